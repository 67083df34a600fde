package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
)

// recordTimeout bounds the write of one delivery's record.
const recordTimeout = 5 * time.Second

// deliver sends j to every target at once (a dead e-mail relay's retries
// do not hold the webhook back), then records the outcome.
func (d *Dispatcher) deliver(ctx context.Context, j job) {
	if ctx.Err() != nil {
		d.dropped(j, "shutting down")
		return
	}
	results := make([]delivery, len(d.targets))
	var wg sync.WaitGroup
	for i, t := range d.targets {
		wg.Go(func() { results[i] = d.deliverTo(ctx, t, j) })
	}
	wg.Wait()
	d.record(j, results)
}

// deliverTo sends j to t, counts and logs the outcome.
func (d *Dispatcher) deliverTo(ctx context.Context, t target, j job) delivery {
	var body []byte
	var err error
	if t.name == TargetService {
		body, err = d.serviceBody(j)
	} else {
		body, err = d.webhookBody(j)
	}
	if err != nil {
		// Marshalling our own types of strings and numbers; said if it ever happens.
		d.observe(t.name, OutcomeFailed)
		return delivery{target: t, err: fmt.Errorf("body: %w", err)}
	}
	r := d.post(ctx, t, j, body)
	f := j.failure
	if r.err == nil {
		d.observe(t.name, OutcomeSent)
		d.log.Info("notification sent", "kind", j.kind, "target", t.name, "origin", t.origin, "host", f.Host,
			"action", f.Action, "reservation", f.ReservationID, "attempts", r.attempts, "status", r.status)
	} else {
		d.observe(t.name, OutcomeFailed)
		d.log.Warn("notification failed", "kind", j.kind, "target", t.name, "origin", t.origin, "host", f.Host,
			"action", f.Action, "reservation", f.ReservationID, "attempts", r.attempts, "error", describe(r.err))
	}
	return r
}

// record writes j's deliveries as one operation: action "notification" or
// "alert", success when every target took it, the payload naming each
// target by its origin only.
func (d *Dispatcher) record(j job, results []delivery) {
	if d.rec == nil {
		return
	}
	f := j.failure
	ok := true
	var total time.Duration
	var code *int
	targets := make([]map[string]any, 0, len(results))
	parts := make([]string, 0, len(results))
	for _, r := range results {
		ok = ok && r.err == nil
		total += r.duration
		if r.target.name == TargetService && r.status != 0 {
			c := r.status
			code = &c
		}
		t := map[string]any{"target": r.target.name, "origin": r.target.origin, "attempts": r.attempts,
			"status": r.status, "success": r.err == nil}
		word := "sent"
		if r.err != nil {
			t["error"] = describe(r.err)
			word = "failed"
		}
		targets = append(targets, t)
		part := fmt.Sprintf("%s after %d attempt(s)", word, r.attempts)
		if r.err != nil {
			part += " (" + describe(r.err) + ")"
		}
		if len(results) > 1 {
			part = r.target.name + ": " + part
		}
		parts = append(parts, part)
	}
	action, noun := "notification", "Notification "
	payload := map[string]any{"eventId": j.id, "failureAction": f.Action, "failureCode": f.Code, "flow": f.Flow,
		"targets": targets}
	if j.kind == KindAlert {
		action, noun = "alert", "Alert "
		payload["failureReason"] = d.condition()
		payload["failures"] = j.failures
	}
	status := "completed"
	if !ok {
		status = "failed"
	}
	msg := noun + strings.Join(parts, "; ")
	raw, err := json.Marshal(payload)
	if err != nil {
		d.log.Error("notification not recorded: payload", "kind", j.kind, "err", err)
		return
	}
	res := f.ReservationID
	if res == "" {
		res = domain.HostScope(f.Host) // a step outside any reservation (/api/wol, /api/winrm)
	}
	dur := int(total.Milliseconds())
	op := domain.Operation{ReservationID: res, LabID: f.LabID, Host: f.Host, Action: action, Status: status,
		Success: ok, ResponseCode: code, DurationMs: &dur, Payload: raw, Message: msg,
		CreatedAt: d.cfg.Now().UTC(), Key: domain.NewOperationKey()}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if _, err := d.rec.RecordOperation(ctx, op); err != nil {
		d.log.Error("notification not recorded", "kind", j.kind, "host", f.Host, "reservation", f.ReservationID, "err", err)
	}
}
