package notify

import (
	"encoding/json"
	"fmt"
	"html"
	"strings"
	"time"
)

// ServiceBody is what the gateway's notification service takes (the
// gateway's own worker sends the same fields): an e-mail to Recipients.
type ServiceBody struct {
	Recipients  []string `json:"recipients"`
	Subject     string   `json:"subject"`
	TextBody    string   `json:"textBody"`
	HTMLBody    string   `json:"htmlBody"`
	ICSContent  *string  `json:"icsContent"`
	ICSFileName *string  `json:"icsFileName"`
}

// WebhookSchema names the version of WebhookBody. A change that removes
// or retypes a field gets a new name; new fields may be added to v1.
const WebhookSchema = "ops-worker.notification.v1"

// WebhookBody is the JSON posted to OPS_WEBHOOK_URL (README "Alerts and
// notifications"). Unknown values are null, never absent.
type WebhookBody struct {
	Schema string `json:"schema"` // WebhookSchema
	// ID is the event's: the same on every retry of one delivery, so a
	// receiver can drop a duplicate.
	ID   string    `json:"id"`
	Kind string    `json:"kind"` // "failure" or "alert"
	Time time.Time `json:"time"` // when the step failed (UTC)
	Host string    `json:"host"`
	// LabID and ReservationID are null when there is none (a direct
	// /api/wol or /api/winrm call has no reservation).
	LabID         *string `json:"labId"`
	ReservationID *string `json:"reservationId"`
	// Flow is "wol", "winrm", "reservation-start" or "reservation-end";
	// Action the step ("wake", "prepare", "release", "power:shutdown", or
	// the command of /api/winrm).
	Flow     string       `json:"flow"`
	Action   string       `json:"action"`
	Error    WebhookError `json:"error"`
	ExitCode *int         `json:"exitCode"`
	// Alert is set for kind "alert" only.
	Alert *WebhookAlert `json:"alert"`
	// Text is one line for a human (chat tools that read "text" show it).
	Text string `json:"text"`
}

// WebhookError is the failure's code (the error contract's, or
// NO_RESPONSE, EXIT_CODE) and message.
type WebhookError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WebhookAlert says what triggered an alert.
type WebhookAlert struct {
	Failures        int `json:"failures"`
	WindowSeconds   int `json:"windowSeconds"`
	CooldownSeconds int `json:"cooldownSeconds"`
}

// subject is the e-mail subject of j (the gateway worker's wording).
func (d *Dispatcher) subject(j job) string {
	if j.kind == KindAlert {
		return "Lab Gateway alert: repeated failures for " + oneLine(j.failure.Host)
	}
	return fmt.Sprintf("Lab Gateway alert: %s failed for %s", oneLine(j.failure.Action), oneLine(j.failure.Host))
}

// condition is an alert's reason.
func (d *Dispatcher) condition() string {
	return fmt.Sprintf("At least %d failed operations in the last %d seconds", d.cfg.AlertThreshold, int(d.cfg.AlertWindow/time.Second))
}

// lines are the e-mail's body lines.
func (d *Dispatcher) lines(j job) []string {
	f := j.failure
	res := f.ReservationID
	if res == "" {
		res = "none (/api/" + f.Flow + ")"
	}
	out := []string{"Reservation: " + res, "Lab ID: " + orUnknown(f.LabID), "Host: " + f.Host}
	details := map[string]any{}
	for k, v := range f.Details {
		details[k] = v
	}
	details["code"] = f.Code
	details["flow"] = f.Flow
	if j.kind == KindAlert {
		out = append(out, "Condition: "+d.condition())
		details = map[string]any{"triggerAction": f.Action, "triggerMessage": f.Message, "payload": details}
	} else {
		out = append(out, "Action: "+f.Action, "Reason: "+f.Message)
	}
	if b, err := json.Marshal(details); err == nil {
		out = append(out, "Details: "+string(b))
	}
	return out
}

func (d *Dispatcher) serviceBody(j job) ([]byte, error) {
	lines := d.lines(j)
	esc := make([]string, len(lines))
	for i, l := range lines {
		esc[i] = html.EscapeString(l)
	}
	b := ServiceBody{Recipients: d.cfg.Recipients, Subject: d.subject(j), TextBody: strings.Join(lines, "\n"),
		HTMLBody: "<p>" + strings.Join(esc, "</p><p>") + "</p>"}
	if b.Recipients == nil {
		b.Recipients = []string{}
	}
	return json.Marshal(b)
}

func (d *Dispatcher) webhookBody(j job) ([]byte, error) {
	f := j.failure
	b := WebhookBody{Schema: WebhookSchema, ID: j.id, Kind: j.kind, Time: f.At.UTC(), Host: f.Host,
		LabID: nullable(f.LabID), ReservationID: nullable(f.ReservationID), Flow: f.Flow, Action: f.Action,
		Error: WebhookError{Code: f.Code, Message: f.Message}, ExitCode: f.ExitCode}
	if j.kind == KindAlert {
		b.Alert = &WebhookAlert{Failures: j.failures, WindowSeconds: int(d.cfg.AlertWindow / time.Second),
			CooldownSeconds: int(d.cfg.AlertCooldown / time.Second)}
		b.Text = fmt.Sprintf("%s: %s (last: %s failed: %s)", d.subject(j), d.condition(), oneLine(f.Action), oneLine(f.Message))
	} else {
		b.Text = fmt.Sprintf("%s: %s", d.subject(j), oneLine(f.Message))
		if f.ReservationID != "" {
			b.Text += " (reservation " + oneLine(f.ReservationID) + ")"
		}
	}
	return json.Marshal(b)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// oneLine keeps a header-like text (a subject) on one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
