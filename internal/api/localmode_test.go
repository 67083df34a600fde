package api

import (
	"reflect"
	"testing"

	"github.com/ops-worker/ops-worker/internal/ops"
)

// POST /api/hosts/local-mode: enabled is a JSON boolean and required, the
// refusals are 4xx in the error contract, before the use case for a type
// the strict decoding refuses.
func TestHandlers_LocalMode(t *testing.T) {
	hs := newHarness(t)
	cases := []struct {
		body     string
		want     int
		wantMsg  string
		reached  bool
		wantReq  ops.LocalModeRequest
		wantBody string
	}{
		{`{"host":"lab-ws-01","enabled":true}`, 200, "", true, ops.LocalModeRequest{Host: knownHost, Enabled: ptr(true)}, `{"host":"lab-ws-01","localModeEnabled":true}`},
		{`{"host":"lab-ws-01","enabled":false}`, 200, "", true, ops.LocalModeRequest{Host: knownHost, Enabled: ptr(false)}, `{"host":"lab-ws-01","localModeEnabled":false}`},
		{`{"enabled":true}`, 400, "host is required", true, ops.LocalModeRequest{Enabled: ptr(true)}, ""},
		{`{"host":"lab-ws-01"}`, 400, "enabled is required", true, ops.LocalModeRequest{Host: knownHost}, ""},
		{`{"host":"lab-ws-01","enabled":null}`, 400, "enabled is required", true, ops.LocalModeRequest{Host: knownHost}, ""},
		{`{"host":"lab-ws-09","enabled":true}`, 404, "host 'lab-ws-09' not found in config", true, ops.LocalModeRequest{Host: "lab-ws-09", Enabled: ptr(true)}, ""},
		{`{"host":"lab-ws-01","enabled":"true"}`, 400, "", false, ops.LocalModeRequest{}, ""},
		{`{"host":"lab-ws-01","enabled":1}`, 400, "", false, ops.LocalModeRequest{}, ""},
		{`{"host":true,"enabled":true}`, 400, "", false, ops.LocalModeRequest{}, ""},
		{`[true]`, 400, "", false, ops.LocalModeRequest{}, ""},
		{`{"host":"lab-ws-01","Enabled":true}`, 400, "", false, ops.LocalModeRequest{}, ""},
	}
	for _, c := range cases {
		hs.svc.last = nil
		w := hs.do(t, "POST", "/api/hosts/local-mode", c.body)
		if w.Code != c.want {
			t.Errorf("%s: got %d, want %d: %s", c.body, w.Code, c.want, w.Body)
			continue
		}
		got := hs.svc.lastReq("SetLocalMode")
		switch {
		case !c.reached && got != nil:
			t.Errorf("%s: reached the use case with %#v", c.body, got)
		case c.reached && !reflect.DeepEqual(got, c.wantReq):
			t.Errorf("%s: use case got %#v, want %#v", c.body, got, c.wantReq)
		}
		if c.want != 200 {
			e := errorOf(t, w)
			if c.wantMsg != "" && e.Error != c.wantMsg {
				t.Errorf("%s: message %q, want %q", c.body, e.Error, c.wantMsg)
			}
			continue
		}
		if got := w.Body.String(); got != c.wantBody+"\n" {
			t.Errorf("%s: body %q, want %q", c.body, got, c.wantBody)
		}
		checkRequest(t, "POST", "/api/hosts/local-mode", c.body)
	}
}
