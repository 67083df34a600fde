package lambdafn_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// The hosts-local-mode function, built and run under the emulator, answers
// what the local server answers and sets the flag of its world's station;
// the heartbeat-poll function then reads it.
func TestRIE_LocalMode(t *testing.T) {
	rieBinary(t)
	lw, sw := newWorld(t, nil), newWorld(t, nil)
	migrateUnderRIE(t, lw)
	srv := localServer(t, sw)
	fn := startRIE(t, "hosts-local-mode", lw.env)
	poll := startRIE(t, "heartbeat-poll", lw.env)
	cases := []struct {
		fn   *emulated
		c    call
		want int
	}{
		{fn, call{method: "POST", path: "/api/hosts/local-mode", body: `{"host":"lab-ws-01","enabled":true}`}, 401},
		{fn, call{method: "POST", path: "/api/hosts/local-mode", body: `{"host":"lab-ws-01","enabled":"yes"}`, token: true}, 400},
		{fn, call{method: "POST", path: "/api/hosts/local-mode", body: `{"host":"lab-ws-01"}`, token: true}, 400},
		{fn, call{method: "POST", path: "/api/hosts/local-mode", body: `{"host":"lab-ws-09","enabled":true}`, token: true}, 404},
		{fn, call{method: "POST", path: "/api/hosts/local-mode", body: `{"host":"lab-ws-01","enabled":true}`, token: true}, 200},
		{poll, call{method: "POST", path: "/api/heartbeat/poll", body: `{"host":"lab-ws-01","include_events":false}`, token: true}, 200},
	}
	for _, tc := range cases {
		name := tc.fn.name + " " + tc.c.body
		got := tc.fn.do(t, tc.c)
		want := local(t, srv, tc.c)
		if got.Status != tc.want {
			t.Errorf("%s: function answered %d, want %d: %v", name, got.Status, tc.want, got.Body)
		}
		if gj, wj := mustJSON(got), mustJSON(want); gj != wj {
			t.Errorf("%s: function and local server differ:\nfunction: %s\nlocal:    %s", name, gj, wj)
		}
	}
	if !lw.sim.Host("lab-ws-01").LocalMode() {
		t.Error("the function did not set the station's flag")
	}
	// The answer's heartbeat is blanked by do (its name ends in "at"):
	// read it from the raw answer.
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(poll.invokeRaw(t, cases[len(cases)-1].c.event()), &resp); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Heartbeat struct {
			Status struct {
				LocalModeEnabled *bool `json:"localModeEnabled"`
			} `json:"status"`
		} `json:"heartbeat"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body.Heartbeat.Status.LocalModeEnabled == nil || !*body.Heartbeat.Status.LocalModeEnabled {
		t.Errorf("poll after local mode: %v: %s", err, resp.Body)
	}
	checkFunctionLogs(t, fn)
}
