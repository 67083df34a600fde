package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/powerops"
	"github.com/ops-worker/ops-worker/internal/scheduler"
)

// postDecoders are the wire decoders of the POST routes, in a fixed order
// (the fuzz input picks one by index).
var postDecoders = []struct {
	path  string
	parse func([]byte) error
}{
	{"/api/wol", func(b []byte) error { _, _, err := parseBody[wolWire, *wolWire, ops.WakeRequest](b); return err }},
	{"/api/winrm", func(b []byte) error { _, _, err := parseBody[winrmWire, *winrmWire, ops.CommandRequest](b); return err }},
	{"/api/heartbeat/poll", func(b []byte) error { _, _, err := parseBody[pollWire, *pollWire, ops.PollRequest](b); return err }},
	{"/api/reservations/start", func(b []byte) error { _, _, err := parseBody[startWire, *startWire, ops.StartRequest](b); return err }},
	{"/api/reservations/end", func(b []byte) error { _, _, err := parseBody[endWire, *endWire, ops.EndRequest](b); return err }},
	{"/api/hosts/reload", func(b []byte) error { _, _, err := parseBody[reloadWire, *reloadWire, struct{}](b); return err }},
	{"/api/ticks/heartbeats", func(b []byte) error { _, _, err := parseBody[tickWire, *tickWire, scheduler.Event](b); return err }},
	{"/api/ticks/reservations", func(b []byte) error { _, _, err := parseBody[tickWire, *tickWire, scheduler.Event](b); return err }},
	{"/api/hosts/quarantine", func(b []byte) error {
		_, _, err := parseBody[quarantineWire, *quarantineWire, ops.QuarantineRequest](b)
		return err
	}},
	{"/api/hosts/local-mode", func(b []byte) error {
		_, _, err := parseBody[localModeWire, *localModeWire, ops.LocalModeRequest](b)
		return err
	}},
	{"/api/hosts/discover", func(b []byte) error {
		_, _, err := parseBody[discoverWire, *discoverWire, ops.DiscoverRequest](b)
		return err
	}},
	{"/api/hosts/provision", func(b []byte) error {
		_, _, err := parseBody[provisionWire, *provisionWire, ops.ProvisionRequest](b)
		return err
	}},
	{"/api/hosts/winrm-credentials", func(b []byte) error {
		_, _, err := parseBody[winrmCredentialsWire, *winrmCredentialsWire, ops.WinRMCredentialsRequest](b)
		return err
	}},
	{"/api/power/controllers", func(b []byte) error { _, _, err := objectBody(b); return err }},
	{"/api/power/credentials", func(b []byte) error {
		_, _, err := parseBody[powerCredentialWire, *powerCredentialWire, powerops.SaveCredentialRequest](b)
		return err
	}},
	{"/api/power/controllers/{controllerId}/outlets/{outlet}/commands", func(b []byte) error {
		_, _, err := parseBody[outletCommandWire, *outletCommandWire, powerops.CommandRequest](b)
		return err
	}},
	{"/api/labs/{labId}/power/start", func(b []byte) error {
		_, _, err := parseBody[labPowerWire, *labPowerWire, powerops.PhaseRequest](b)
		return err
	}},
	{"/api/labs/{labId}/power/end", func(b []byte) error {
		_, _, err := parseBody[labPowerWire, *labPowerWire, powerops.PhaseRequest](b)
		return err
	}},
}

func TestPostDecodersCoverPostRoutes(t *testing.T) {
	var n int
	for _, rt := range Routes {
		if rt.Method != "POST" {
			continue
		}
		n++
		found := false
		for _, d := range postDecoders {
			found = found || d.path == rt.Path
		}
		if !found {
			t.Errorf("no fuzzed decoder for %s", rt.Path)
		}
	}
	if n != len(postDecoders) {
		t.Errorf("%d POST routes, %d decoders", n, len(postDecoders))
	}
}

// quietHarness is a harness whose log is discarded (a fuzz run would
// otherwise keep every line in memory).
func quietHarness(t testing.TB) *harness {
	return newHarness(t, func(o *Options) { o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil)) })
}

// must4xx fails unless err is nil or an *ops.Error answered with a 4xx
// whose message stays on one line.
func must4xx(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	oe, ok := ops.AsError(err)
	if !ok || StatusOf(oe.Code) < 400 || StatusOf(oe.Code) >= 500 {
		t.Fatalf("%s: %v is not a 4xx ops.Error", what, err)
	}
	if strings.ContainsAny(oe.Message, "\r\n") {
		t.Fatalf("%s: message carries a line break: %q", what, oe.Message)
	}
}

// FuzzPostBodies drives each POST route's wire decoder and then the whole
// handler (over the fake Service) with the same body: never a panic,
// always a 2xx or a 4xx.
func FuzzPostBodies(f *testing.F) {
	for i := range postDecoders {
		for _, s := range []string{``, `{}`, `{"host":"lab-ws-01","command":"status","args":["a"]}`,
			`{"reservationId":"0xabc123","hostName":"lab-ws-01","wakeOptions":{"port":9},"powerAction":{"mode":"shutdown"}}`,
			`{"host":"a","name":"b"}`, `{"host":"lab-ws-01","enabled":"true"}`, `{"host":"lab-ws-01","enabled":1}`, `{"args":[null]}`, `{"HOST":1}`, `{"a":{"a":1,"a":2}}`, `[`} {
			f.Add(uint8(i), []byte(s))
		}
	}
	for _, c := range hostileBodies {
		if len(c.body) < 4096 {
			f.Add(uint8(0), []byte(c.body))
		}
	}
	hs := quietHarness(f)
	f.Fuzz(func(t *testing.T, route uint8, raw []byte) {
		d := postDecoders[int(route)%len(postDecoders)]
		must4xx(t, d.path, d.parse(raw))
		r := httptest.NewRequest("POST", d.path, strings.NewReader(string(raw)))
		withToken(r)
		w := httptest.NewRecorder()
		hs.h.ServeHTTP(w, r)
		if w.Code >= 500 && !(w.Code == http.StatusBadGateway && strings.HasPrefix(d.path, "/api/reservations/")) {
			t.Fatalf("%s %q: %d %s", d.path, raw, w.Code, w.Body)
		}
		checkAnswer(t, r, w)
	})
}

// FuzzPageQuery drives the query parser of the GET routes and the two
// handlers that use it.
func FuzzPageQuery(f *testing.F) {
	for _, s := range []string{"", "reservationId=0xabc123&limit=10&offset=5", "reservation_id=a&reservationId=b",
		"limit=%zz", "a=1;b=2", "limit=-1", "limit=99999999999999999999", "reservationId=%0d%0a"} {
		f.Add(s)
	}
	hs := quietHarness(f)
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := parsePageQuery(raw)
		must4xx(t, "parsePageQuery", err)
		for _, path := range []string{"/api/reservations/timeline", "/api/operations/recent"} {
			r := httptest.NewRequest("GET", path, nil)
			r.URL.RawQuery = raw
			withToken(r)
			w := httptest.NewRecorder()
			hs.h.ServeHTTP(w, r)
			if w.Code >= 500 || w.Code < 200 {
				t.Fatalf("%s?%q: %d %s", path, raw, w.Code, w.Body)
			}
			checkAnswer(t, r, w)
		}
	})
}
