package relayclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/power"
)

// A relay's answers are read as untrusted as a device's: an unknown code
// is a bad response, a state other than on or off is unknown, a message
// is one bounded line, a missing field is an error, never a zero value.
func TestPowerDriver_RelayAnswers(t *testing.T) {
	answer := ""
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(answer))
	}))
	defer srv.Close()
	d := PowerDriver{Client: &Client{URL: srv.URL, Secret: []byte(strings.Repeat("s", 40))}, Controller: "pdu-1"}
	ctx := context.Background()

	answer = `{"power_error": {"code": "rm -rf", "message": "bad\nthing` + strings.Repeat("x", 1000) + `"}}`
	_, err := d.Set(ctx, "1", power.StateOn)
	if power.CodeOf(err) != power.CodeBadResponse || strings.Contains(err.Error(), "\n") || len(err.Error()) > 400 {
		t.Errorf("unknown code: %v", err)
	}
	answer = `{"power_error": {"code": "auth", "message": "community refused"}}`
	if _, err := d.Set(ctx, "1", power.StateOn); power.CodeOf(err) != power.CodeAuth {
		t.Errorf("auth: %v", err)
	}
	answer = `{"outlet": {"outlet": "1", "state": "ON!!"}}`
	if st, err := d.Set(ctx, "1", power.StateOn); err != nil || st.State != power.StateUnknown {
		t.Errorf("odd state: %+v %v", st, err)
	}
	answer = `{}`
	if _, err := d.Set(ctx, "1", power.StateOn); power.CodeOf(err) != power.CodeBadResponse {
		t.Errorf("no outlet: %v", err)
	}
	if _, err := d.Describe(ctx); power.CodeOf(err) != power.CodeBadResponse {
		t.Errorf("no description: %v", err)
	}
	if _, err := d.Outlets(ctx); power.CodeOf(err) != power.CodeBadResponse {
		t.Errorf("no outlets: %v", err)
	}
	answer = `not json`
	if _, err := d.Outlets(ctx); power.CodeOf(err) != power.CodeUnreachable {
		t.Errorf("garbage: %v", err)
	}
	status, answer = http.StatusForbidden, `{"error": "power controller \"pdu-1\" is not in the relay's power configuration", "kind": "not_in_catalog"}`
	if _, err := d.Describe(ctx); power.CodeOf(err) != power.CodeConfig || !strings.Contains(err.Error(), "not in the relay's power configuration") {
		t.Errorf("not in catalog: %v", err)
	}
	status, answer = http.StatusServiceUnavailable, `{"error": "relay busy", "kind": "unavailable"}`
	if _, err := d.Describe(ctx); power.CodeOf(err) != power.CodeUnreachable {
		t.Errorf("busy: %v", err)
	}
	srv.Close()
	if _, err := d.Describe(ctx); power.CodeOf(err) != power.CodeUnreachable {
		t.Errorf("relay down: %v", err)
	}
}
