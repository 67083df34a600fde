package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/api"
	"github.com/ops-worker/ops-worker/internal/labsim"
)

// The catalog of TestE2E_API: five labsim stations.
//
//	lab-ws-01 lab 1: commands, heartbeat, reservation starts, exit codes
//	lab-ws-02 lab 2: reservation end with power shutdown
//	lab-ws-03 lab 3: asleep, its catalog MAC one that labsim ignores
//	lab-ws-04 lab 4, lab-ws-05 lab 4 too: quarantine
const ignoredMAC = "02:00:00:ee:ee:ee"

func apiCatalog(entries []map[string]any) {
	entries[2]["mac"] = ignoredMAC
	entries[4]["labs"] = []string{"4"}
}

// TestE2E_API drives every endpoint of API.md and its error cases through
// the local server on MariaDB and labsim. The subtests share one server
// and run in order: later ones read what earlier ones recorded.
func TestE2E_API(t *testing.T) {
	e := startE2E(t, e2eOpts{
		// lab-ws-02 refuses while asleep: the release on it after the
		// shutdown fails at once rather than after the dial timeout.
		hosts:   []labsim.HostOptions{{}, {SleepMode: labsim.SleepRefuse}, {Asleep: true}, {}, {}},
		catalog: apiCatalog,
	})
	h1 := e.sim.Host("lab-ws-01")

	t.Run("health", func(t *testing.T) {
		r := e.do(t, "GET", "/health", nil, noToken)
		wantOK(t, r, "status", "hosts_loaded", "db", "version", "db_kind", "relay")
		if r.body["status"] != "ok" || r.body["hosts_loaded"] != 5.0 || r.body["db"] != true || r.body["db_kind"] != "mysql" || r.body["relay"] != nil {
			t.Errorf("GET /health: %s", r)
		}
	})

	t.Run("auth", func(t *testing.T) {
		for _, route := range apiRoutes() {
			wantErr(t, e.do(t, route.method, route.path, "{}", noToken), 401, "UNAUTHORIZED", "")
			wantErr(t, e.do(t, route.method, route.path, "{}", withHeader("X-Lab-Manager-Token", e2eToken+"x")), 401, "UNAUTHORIZED", "")
			wantErr(t, e.do(t, route.method, route.path, "{}", withHeader("X-Lab-Manager-Token", "")), 401, "UNAUTHORIZED", "")
		}
		r := e.do(t, "GET", "/api/hosts", nil, noToken, func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "lab_manager_token", Value: e2eToken})
		})
		wantOK(t, r, "hosts")
		wantErr(t, e.do(t, "GET", "/api/hosts", nil, noToken, func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "lab_manager_token", Value: "wrong"})
		}), 401, "UNAUTHORIZED", "")
	})

	t.Run("request id", func(t *testing.T) {
		r := e.do(t, "GET", "/api/nope", nil, withHeader("X-Request-ID", "caller-id:1.2_3"))
		wantErr(t, r, 404, "", "")
		if r.body["requestId"] != "caller-id:1.2_3" {
			t.Errorf("requestId %v, want the caller's", r.body["requestId"])
		}
		if !strings.Contains(e.logs.String(), `"request_id":"caller-id:1.2_3"`) && !strings.Contains(e.logs.String(), "caller-id:1.2_3") {
			t.Errorf("the request id is in no log line")
		}
		for _, bad := range []string{"bad id\u00e9<script>", strings.Repeat("a", 129), "a\tb", "x/y"} {
			r = e.do(t, "GET", "/api/nope", nil, withHeader("X-Request-ID", bad))
			wantErr(t, r, 404, "", "")
			if r.body["requestId"] == bad {
				t.Errorf("an invalid X-Request-ID %q was echoed", bad)
			}
		}
		r = e.do(t, "GET", "/api/nope", nil, withHeader("X-Request-ID", strings.Repeat("a", 128)))
		if r.body["requestId"] != strings.Repeat("a", 128) {
			t.Errorf("a valid 128-character X-Request-ID was not echoed: %s", r)
		}
	})

	t.Run("404 and 405", func(t *testing.T) {
		wantErr(t, e.do(t, "GET", "/api/nope", nil), 404, "NOT_FOUND", "")
		wantErr(t, e.do(t, "GET", "/nope", nil, noToken), 404, "NOT_FOUND", "")
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/wol"}, {"PUT", "/api/winrm"}, {"DELETE", "/api/hosts"},
			{"POST", "/api/reservations/timeline"}, {"GET", "/api/hosts/reload"}, {"POST", "/health"},
		} {
			r := e.do(t, c.method, c.path, nil)
			wantErr(t, r, 405, "METHOD_NOT_ALLOWED", "")
			if r.hdr.Get("Allow") == "" {
				t.Errorf("%s %s: 405 without Allow", c.method, c.path)
			}
		}
	})

	t.Run("wol", func(t *testing.T) {
		wantErr(t, e.do(t, "POST", "/api/wol", map[string]any{}), 400, "", "mac is required")
		wantErr(t, e.do(t, "POST", "/api/wol", map[string]any{"host": "lab-ws-99"}), 404, "HOST_NOT_FOUND", "host 'lab-ws-99' not found in config")

		r := e.do(t, "POST", "/api/wol", map[string]any{"host": "lab-ws-01"})
		wantOK(t, r, "success", "attempts_used", "duration_ms", "ping_target", "reached_by")
		if r.body["success"] != true || r.body["attempts_used"] != 1.0 || r.body["ping_target"] != "127.0.0.1" || r.body["reached_by"] != "tcp" {
			t.Errorf("wol lab-ws-01: %s", r)
		}

		// A hostile ping_target or broadcast is refused before any I/O:
		// no magic packet reaches the port given, no probe reaches labsim.
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		port := pc.LocalAddr().(*net.UDPAddr).Port
		// lab-ws-03 sleeps: a packet with its real MAC to its wake port
		// would wake it (50 ms), so it staying asleep shows that labsim
		// saw no packet.
		h3 := e.sim.Host("lab-ws-03")
		before := h1.HTTPRequests()
		hostile := []string{"127.0.0.1;reboot", "127.0.0.1 && id", "$(id)", "a b", "`id`", "127.0.0.1\n", "x|y",
			strings.Repeat("a", 254), strings.Repeat("a", 64) + ".example", "../../etc/passwd", "http://127.0.0.1/", "-oProxyCommand=x",
			strings.Repeat("a.", 200) + "!"}
		for _, bad := range hostile {
			for _, field := range []string{"ping_target", "broadcast"} {
				body := map[string]any{"mac": "02:00:00:00:00:01", "broadcast": "127.0.0.1", "port": port, "ping_target": "127.0.0.1", "attempts": 1, "ping_timeout": 1}
				body[field] = bad
				r := e.do(t, "POST", "/api/wol", body)
				wantErr(t, r, 400, "BAD_REQUEST", "")
				if !strings.HasPrefix(r.body["error"].(string), field+" '") {
					t.Errorf("%s %q: error %q does not name the field", field, bad, r.body["error"])
				}
				body = map[string]any{"host": "lab-ws-03", "mac": h3.MAC(), field: bad, "attempts": 1, "ping_timeout": 1}
				wantErr(t, e.do(t, "POST", "/api/wol", body), 400, "BAD_REQUEST", "")
			}
		}
		time.Sleep(200 * time.Millisecond)
		if !h3.Asleep() {
			t.Error("lab-ws-03 woke: a refused wake sent its magic packet")
		}
		pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _, err := pc.ReadFrom(make([]byte, 200)); err == nil {
			t.Errorf("a %d-byte packet was sent for a refused request", n)
		}
		if after := h1.HTTPRequests(); after != before {
			t.Errorf("labsim saw %d requests during refused wakes", after-before)
		}
		// The same body with a plain target does send the packet (the
		// check above is not vacuous).
		r = e.do(t, "POST", "/api/wol", map[string]any{"mac": "02:00:00:00:00:01", "broadcast": "127.0.0.1", "port": port, "ping_target": "127.0.0.1", "attempts": 1, "ping_timeout": 1})
		if r.code != 200 {
			t.Errorf("plain wol: %s", r)
		}
		pc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, _, err := pc.ReadFrom(make([]byte, 200)); err != nil || n != 102 {
			t.Errorf("plain wol: no magic packet (%d, %v)", n, err)
		}
	})

	t.Run("winrm", func(t *testing.T) {
		// The order of checks: required, allowed, host, arguments.
		wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{}), 400, "BAD_REQUEST", "host and command are required")
		wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01"}), 400, "BAD_REQUEST", "host and command are required")
		wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"command": "status"}), 400, "BAD_REQUEST", "host and command are required")
		wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"command": "format-c"}), 400, "BAD_REQUEST", "host and command are required")
		wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"host": "", "command": "status"}), 400, "BAD_REQUEST", "host and command are required")
		wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-99", "command": "format-c"}), 400, "COMMAND_NOT_ALLOWED", "command 'format-c' not allowed")
		wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "Status"}), 400, "COMMAND_NOT_ALLOWED", "command 'Status' not allowed")
		wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-99", "command": "status", "args": []string{"50%"}}), 404, "HOST_NOT_FOUND", "host 'lab-ws-99' not found in config")
		before := h1.HTTPRequests()
		for _, arg := range []string{"50%", "a!b", "line\nbreak", "nul\x00", "cr\r"} {
			wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status", "args": []string{arg}}), 400, "ARGUMENT_REFUSED", "")
		}
		if after := h1.HTTPRequests(); after != before {
			t.Errorf("labsim saw %d requests for refused arguments", after-before)
		}

		// Unknown fields are tolerated (a client a version ahead).
		r := e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status", "futureField": 1})
		wantOK(t, r, "exit_code", "stdout", "stderr", "duration_ms")
		if r.body["exit_code"] != 0.0 || !strings.Contains(r.body["stdout"].(string), "LabStation status") {
			t.Errorf("status: %s", r)
		}
		// Commands at once on one station (it runs 2 at a time): all answer.
		results := make(chan e2eResp, 6)
		for range 6 {
			go func() {
				results <- e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status"})
			}()
		}
		for range 6 {
			if r := <-results; r.code != 200 || r.body["exit_code"] != 0.0 {
				t.Errorf("concurrent status: %s", r)
			}
		}
		// A failing command is still a 200: the client reads exit_code.
		h1.SetFaults(labsim.Faults{ExitCodes: map[string]int{"status": 3}})
		r = e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status", "args": []string{"--json"}})
		h1.SetFaults(labsim.Faults{})
		wantOK(t, r, "exit_code", "stdout", "stderr", "duration_ms")
		if r.body["exit_code"] != 3.0 {
			t.Errorf("status with exit 3: %s", r)
		}

		// Overrides never weaken the host; credentials refused by default.
		wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status", "user": "admin", "password": "hunter2-override"}), 400, "POLICY_REFUSED", "")
		wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status", "password": "hunter2-override"}), 400, "POLICY_REFUSED", "")
		wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status", "use_ssl": false}), 400, "POLICY_REFUSED", "")
		wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status", "transport": "basic"}), 400, "POLICY_REFUSED", "")
		wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status", "port": 5985}), 400, "POLICY_REFUSED", "")
		if strings.Contains(e.logs.String(), "hunter2-override") || strings.Contains(e.capture.String(), "hunter2-override") {
			t.Errorf("an override password reached a log line or an answer")
		}
	})

	t.Run("heartbeat poll", func(t *testing.T) {
		wantErr(t, e.do(t, "POST", "/api/heartbeat/poll", map[string]any{}), 400, "BAD_REQUEST", "host is required")
		wantErr(t, e.do(t, "POST", "/api/heartbeat/poll", map[string]any{"host": "lab-ws-99"}), 404, "HOST_NOT_FOUND", "host 'lab-ws-99' not found in config")
		r := e.do(t, "POST", "/api/heartbeat/poll", map[string]any{"host": "lab-ws-01"})
		wantOK(t, r, "heartbeat", "last_event", "duration_ms", "host", "stored")
		if r.body["host"] != "lab-ws-01" || r.body["stored"] != true {
			t.Errorf("poll: %s", r)
		}
		hb := obj(t, r.body["heartbeat"], "heartbeat")
		if v, _ := hb["schemaVersion"].(string); !strings.HasPrefix(v, "1.") {
			t.Errorf("heartbeat schemaVersion %v", hb["schemaVersion"])
		}
		obj(t, r.body["last_event"], "last_event")
		if n := e.queryInt(t, `SELECT COUNT(*) FROM lab_host_heartbeat hb JOIN lab_hosts h ON h.id = hb.host_id WHERE h.name = 'lab-ws-01' AND hb.raw_json IS NOT NULL`); n != 1 {
			t.Errorf("lab_host_heartbeat rows of lab-ws-01: %d, want 1", n)
		}
		// include_events false and an empty events log: last_event null.
		r = e.do(t, "POST", "/api/heartbeat/poll", map[string]any{"host": "lab-ws-01", "include_events": false})
		wantOK(t, r, "last_event")
		if r.body["last_event"] != nil {
			t.Errorf("include_events false: last_event %v", r.body["last_event"])
		}
		// A station that answers badly is a 502 STATION_ERROR, never a 500;
		// a stale heartbeat is still a 200, flagged.
		for _, f := range []labsim.Faults{{SchemaVersion: "2.0.0"}, {TruncatedOutput: true}, {GarbageOutput: true}, {FailureRate: 1}} {
			h1.SetFaults(f)
			wantErr(t, e.do(t, "POST", "/api/heartbeat/poll", map[string]any{"host": "lab-ws-01"}), 502, "STATION_ERROR", "host 'lab-ws-01' reported a failure or unusable data")
		}
		h1.SetFaults(labsim.Faults{StaleHeartbeat: true})
		r = e.do(t, "POST", "/api/heartbeat/poll", map[string]any{"host": "lab-ws-01"})
		wantOK(t, r, "stale")
		if r.body["stale"] != true {
			t.Errorf("stale heartbeat: %s", r)
		}
		h1.SetFaults(labsim.Faults{EmptyEventsLog: true})
		r = e.do(t, "POST", "/api/heartbeat/poll", map[string]any{"host": "lab-ws-01"})
		h1.SetFaults(labsim.Faults{})
		wantOK(t, r, "last_event")
		if r.body["last_event"] != nil {
			t.Errorf("empty events log: last_event %v", r.body["last_event"])
		}
	})

	now := time.Now().UTC()
	for i, id := range []string{"r-ok", "r-warn", "r-fail", "r-asleep", "r-end", "r-lab4"} {
		lab := []string{"1", "1", "1", "3", "2", "4"}[i]
		e.insertReservation(t, id, lab, "CONFIRMED", now.Add(5*time.Minute))
	}

	t.Run("reservation start", func(t *testing.T) {
		wantErr(t, e.do(t, "POST", "/api/reservations/start", map[string]any{}), 400, "BAD_REQUEST", "reservationId and host are required")
		wantErr(t, e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-ok"}), 400, "BAD_REQUEST", "reservationId and host are required")
		wantErr(t, e.do(t, "POST", "/api/reservations/start", map[string]any{"host": "lab-ws-01"}), 400, "BAD_REQUEST", "reservationId and host are required")
		wantErr(t, e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-ok", "host": "lab-ws-99"}), 404, "HOST_NOT_FOUND", "host 'lab-ws-99' not found")
		wantErr(t, e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-ok", "reservation_id": "r-other", "host": "lab-ws-01"}), 400, "", "")
		wantErr(t, e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-ok", "host": "lab-ws-01", "hostName": "lab-ws-02"}), 400, "", "")
		wantErr(t, e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-ok", "host": "lab-ws-01", "guardGrace": -1}), 400, "", "guardGrace must be 0 or more seconds")
		// wakeOptions as /api/wol checks them: 400 before any step.
		for _, wo := range []map[string]any{{"ping_target": "a;b"}, {"broadcast": "$(x)"}, {"mac": "zz"}, {"port": 70000},
			{"attempts": 0}, {"attempts": 1000}, {"ping_timeout": 100000}, {"ping_target": strings.Repeat("a", 300)}} {
			wantErr(t, e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-ok", "host": "lab-ws-01", "wakeOptions": wo}), 400, "BAD_REQUEST", "")
		}
		if n := e.queryInt(t, `SELECT COUNT(*) FROM reservation_operations`); n != 0 {
			t.Errorf("refused starts recorded %d operations", n)
		}

		r := e.do(t, "POST", "/api/reservations/start", map[string]any{"reservation_id": "r-ok", "hostName": "lab-ws-01", "lab_id": "1"})
		steps := wantFlow(t, r, 200, "r-ok", "lab-ws-01", "1", "wake", "prepare")
		wake := steps[0]
		if wake["status"] != "completed" || wake["message"] != "Host reachable" {
			t.Errorf("wake step: %v", wake)
		}
		wd := obj(t, wake["details"], "wake details")
		hasKeys(t, wd, "wake details", "mac", "pingTarget", "attemptsRequested", "attemptsUsed", "waitSeconds", "port", "broadcast")
		if wd["mac"] != h1.MAC() || wd["pingTarget"] != "127.0.0.1" || wd["attemptsRequested"] != 3.0 || wd["waitSeconds"] != 10.0 ||
			wd["port"] != float64(h1.WakePort()) || wd["broadcast"] != "127.0.0.1" {
			t.Errorf("wake details: %v", wd)
		}
		prep := steps[1]
		checkCommandStep(t, prep, "prepare", "completed", 0, []string{"--guard-grace=90"})
		if n := e.queryInt(t, `SELECT COUNT(*) FROM reservation_operations WHERE reservation_id = 'r-ok'`); n != 2 {
			t.Errorf("reservation_operations rows of r-ok: %d, want 2", n)
		}
		if n := e.queryInt(t, `SELECT COUNT(*) FROM reservation_operations WHERE reservation_id = 'r-ok' AND host = 'lab-ws-01' AND lab_id = '1' AND success = 1
			AND ((action = 'wake' AND status = 'completed') OR (action = 'prepare' AND status = 'completed'))`); n != 2 {
			t.Errorf("reservation_operations rows of r-ok as answered: %d, want 2", n)
		}

		// Exit code 1: completed with warnings, a success (200).
		h1.SetFaults(labsim.Faults{ExitCodes: map[string]int{"prepare-session": 1}})
		r = e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-warn", "host": "lab-ws-01", "wake": false, "guardGrace": 5})
		steps = wantFlow(t, r, 200, "r-warn", "lab-ws-01", "1", "prepare")
		checkCommandStep(t, steps[0], "prepare", "completed_with_warnings", 1, []string{"--guard-grace=5"})
		// 2 and up: failed, 502.
		for _, code := range []int{2, 3, 9} {
			h1.SetFaults(labsim.Faults{ExitCodes: map[string]int{"prepare-session": code}})
			r = e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-fail", "host": "lab-ws-01", "wake": false, "prepareArgs": []string{"--guard-grace=1", "--no-guard"}})
			steps = wantFlow(t, r, 502, "r-fail", "lab-ws-01", "1", "prepare")
			checkCommandStep(t, steps[0], "prepare", "failed", code, []string{"--guard-grace=1", "--no-guard"})
		}
		h1.SetFaults(labsim.Faults{})
		if n := e.queryInt(t, `SELECT COUNT(*) FROM reservation_operations WHERE reservation_id = 'r-warn' AND action = 'prepare' AND status = 'completed_with_warnings' AND success = 1`); n != 1 {
			t.Errorf("r-warn rows: %d, want 1", n)
		}
		if n := e.queryInt(t, `SELECT COUNT(*) FROM reservation_operations WHERE reservation_id = 'r-fail' AND status = 'failed' AND success = 0`); n != 3 {
			t.Errorf("r-fail rows: %d, want 3", n)
		}

		// Asleep, and its catalog MAC is not the one labsim wakes on: the
		// wake step fails and prepare is not tried.
		h3 := e.sim.Host("lab-ws-03")
		r = e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-asleep", "host": "lab-ws-03",
			"wakeOptions": map[string]any{"attempts": 1, "ping_timeout": 1}})
		steps = wantFlow(t, r, 502, "r-asleep", "lab-ws-03", "3", "wake")
		if steps[0]["success"] != false || steps[0]["status"] != "failed" || steps[0]["message"] != "Host did not respond to ping" {
			t.Errorf("wake of a host that stays asleep: %v", steps[0])
		}
		wd = obj(t, steps[0]["details"], "wake details")
		if wd["mac"] != ignoredMAC || wd["attemptsRequested"] != 1.0 || wd["attemptsUsed"] != 1.0 || wd["waitSeconds"] != 1.0 {
			t.Errorf("wake details: %v", wd)
		}
		if !h3.Asleep() {
			t.Error("lab-ws-03 woke on a packet for another MAC")
		}
		if n := e.queryInt(t, `SELECT COUNT(*) FROM reservation_operations WHERE reservation_id = 'r-asleep' AND action = 'wake' AND success = 0`); n != 1 {
			t.Errorf("r-asleep wake rows: %d, want 1", n)
		}
		// With its real MAC it wakes (labsim boots after 50 ms).
		r = e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-asleep", "host": "lab-ws-03",
			"wakeOptions": map[string]any{"mac": h3.MAC(), "attempts": 2, "ping_timeout": 5}, "guardGrace": 1})
		wantFlow(t, r, 200, "r-asleep", "lab-ws-03", "3", "wake", "prepare")

		// A refused argument is a 400 before any step runs or is recorded.
		wantErr(t, e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-ok", "host": "lab-ws-01", "prepareArgs": []string{"100%"}}), 400, "ARGUMENT_REFUSED", "")
		if n := e.queryInt(t, `SELECT COUNT(*) FROM reservation_operations WHERE reservation_id = 'r-ok'`); n != 2 {
			t.Errorf("a refused start was recorded: %d rows", n)
		}
	})

	t.Run("reservation end", func(t *testing.T) {
		wantErr(t, e.do(t, "POST", "/api/reservations/end", map[string]any{}), 400, "BAD_REQUEST", "reservationId and host are required")
		wantErr(t, e.do(t, "POST", "/api/reservations/end", map[string]any{"reservationId": "r-end", "host": "lab-ws-99"}), 404, "HOST_NOT_FOUND", "host 'lab-ws-99' not found")
		wantErr(t, e.do(t, "POST", "/api/reservations/end", map[string]any{"reservationId": "r-end", "host": "lab-ws-02", "powerAction": map[string]any{"mode": "explode"}}), 400, "", "powerAction.mode must be shutdown or hibernate")
		wantErr(t, e.do(t, "POST", "/api/reservations/end", map[string]any{"reservationId": "r-end", "host": "lab-ws-02", "releaseArgs": []string{"50%"}}), 400, "ARGUMENT_REFUSED", "")
		// A refused power argument stops the flow before the release runs.
		wantErr(t, e.do(t, "POST", "/api/reservations/end", map[string]any{"reservationId": "r-end", "host": "lab-ws-02", "releaseArgs": []string{},
			"powerAction": map[string]any{"args": []string{"--delay=x!"}}}), 400, "ARGUMENT_REFUSED", "")
		if n := e.queryInt(t, `SELECT COUNT(*) FROM reservation_operations WHERE reservation_id = 'r-end'`); n != 0 {
			t.Errorf("refused ends recorded %d operations", n)
		}

		h2 := e.sim.Host("lab-ws-02")
		r := e.do(t, "POST", "/api/reservations/end", map[string]any{"reservationId": "r-end", "host": "lab-ws-02", "labId": "2",
			"releaseArgs": []string{}, "powerAction": map[string]any{"mode": "shutdown"}})
		steps := wantFlow(t, r, 200, "r-end", "lab-ws-02", "2", "release", "power:shutdown")
		checkCommandStep(t, steps[0], "release", "completed", 0, []string{})
		checkCommandStep(t, steps[1], "power:shutdown", "completed", 0, []string{"shutdown"})
		deadline := time.Now().Add(5 * time.Second)
		for !h2.Asleep() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !h2.Asleep() {
			t.Error("lab-ws-02 is still awake after power:shutdown")
		}
		if n := e.queryInt(t, `SELECT COUNT(*) FROM reservation_operations WHERE reservation_id = 'r-end' AND action IN ('release', 'power:shutdown') AND success = 1`); n != 2 {
			t.Errorf("r-end rows: %d, want 2", n)
		}
		// Asleep now: nothing to release, the release is skipped (a
		// success, with the reason) and the flow answers 200.
		r = e.do(t, "POST", "/api/reservations/end", map[string]any{"reservationId": "r-end", "host": "lab-ws-02", "releaseArgs": []string{}})
		steps = wantFlow(t, r, 200, "r-end", "lab-ws-02", "2", "release")
		if d, _ := steps[0]["details"].(map[string]any); steps[0]["status"] != "completed" || steps[0]["success"] != true ||
			steps[0]["message"] != "Skipped: station asleep (host down): nothing to release" || d["skipped"] != true {
			t.Errorf("release on a sleeping host: %v", steps[0])
		}

		// Default releaseArgs: --reboot (lab-ws-04 reboots in 50 ms).
		r = e.do(t, "POST", "/api/reservations/end", map[string]any{"reservationId": "r-lab4", "host": "lab-ws-04", "release": true})
		steps = wantFlow(t, r, 200, "r-lab4", "lab-ws-04", "4", "release")
		checkCommandStep(t, steps[0], "release", "completed", 0, []string{"--reboot"})
		// release false and no power action: no step at all.
		r = e.do(t, "POST", "/api/reservations/end", map[string]any{"reservationId": "r-lab4", "host": "lab-ws-05", "release": false})
		wantFlow(t, r, 200, "r-lab4", "lab-ws-05", "4")
	})

	t.Run("timeline", func(t *testing.T) {
		wantErr(t, e.do(t, "GET", "/api/reservations/timeline", nil), 400, "BAD_REQUEST", "reservationId is required")
		wantErr(t, e.do(t, "GET", "/api/reservations/timeline?reservationId=", nil), 400, "BAD_REQUEST", "reservationId is required")
		wantErr(t, e.do(t, "GET", "/api/reservations/timeline?reservationId=nope", nil), 404, "RESERVATION_NOT_FOUND", "Reservation not found")

		r := e.do(t, "GET", "/api/reservations/timeline?reservationId=r-ok", nil)
		wantOK(t, r, "reservation", "host", "operations", "phases", "heartbeat", "pagination")
		res := obj(t, r.body["reservation"], "reservation")
		hasKeys(t, res, "reservation", "reservationId", "labId", "status", "start", "end", "walletAddress", "createdAt", "updatedAt")
		if res["reservationId"] != "r-ok" || res["labId"] != "1" || res["status"] != "CONFIRMED" || res["walletAddress"] != "0xabc" {
			t.Errorf("reservation: %v", res)
		}
		if s, _ := res["start"].(string); !strings.HasSuffix(s, "Z") {
			t.Errorf("start %q is not ISO-8601 UTC", res["start"])
		}
		host := obj(t, r.body["host"], "host")
		hasKeys(t, host, "host", "name", "labId", "config")
		if host["name"] != "lab-ws-01" || host["labId"] != "1" {
			t.Errorf("host: %v", host)
		}
		cfg := obj(t, host["config"], "host config")
		for k := range cfg {
			if strings.Contains(strings.ToLower(k), "pass") || strings.Contains(strings.ToLower(k), "secret") {
				t.Errorf("host config has %q", k)
			}
		}
		ops := arr(t, r.body["operations"], "operations")
		if len(ops) != 2 {
			t.Fatalf("operations: %d, want 2", len(ops))
		}
		for i, o := range ops {
			hasKeys(t, obj(t, o, "operation"), "operation", "action", "status", "success", "message", "payload", "responseCode", "durationMs", "createdAt")
			if want := []string{"wake", "prepare"}[i]; o.(map[string]any)["action"] != want {
				t.Errorf("operation %d: %v, want %s (oldest first)", i, o.(map[string]any)["action"], want)
			}
		}
		phases := obj(t, r.body["phases"], "phases")
		hasKeys(t, phases, "phases", "wake", "prepare", "release", "power", "schedulerEnd")
		if obj(t, phases["wake"], "wake phase")["action"] != "wake" || obj(t, phases["prepare"], "prepare phase")["action"] != "prepare" ||
			phases["release"] != nil || phases["power"] != nil || phases["schedulerEnd"] != nil {
			t.Errorf("phases: %v", phases)
		}
		hb := obj(t, r.body["heartbeat"], "heartbeat")
		hasKeys(t, hb, "heartbeat", "timestamp", "ready", "localMode", "localSession", "lastPower", "lastForcedLogoff", "raw")
		hasKeys(t, obj(t, hb["lastPower"], "lastPower"), "lastPower", "timestamp", "mode")
		hasKeys(t, obj(t, hb["lastForcedLogoff"], "lastForcedLogoff"), "lastForcedLogoff", "timestamp", "user")
		checkPagination(t, r.body, 100, 0, 2, 2, false)

		// Paging: phases come from every operation, not from the page.
		r = e.do(t, "GET", "/api/reservations/timeline?reservationId=r-ok&limit=1&offset=1", nil)
		checkPagination(t, r.body, 1, 1, 1, 2, false)
		if ops := arr(t, r.body["operations"], "operations"); len(ops) != 1 || ops[0].(map[string]any)["action"] != "prepare" {
			t.Errorf("page 2: %v", ops)
		}
		if obj(t, r.body["phases"], "phases")["wake"] == nil {
			t.Errorf("phases computed from the page only")
		}
		for _, c := range []struct {
			query                          string
			limit, offset, returned, total int
			more                           bool
		}{
			{"limit=1", 1, 0, 1, 2, true},
			{"limit=abc&offset=xyz", 100, 0, 2, 2, false}, // unparsable: the defaults
			{"limit=-5&offset=-3", 100, 0, 2, 2, false},
			{"limit=0", 100, 0, 2, 2, false},
			{"limit=100000", 500, 0, 2, 2, false}, // at most OPS_TIMELINE_MAX_OPS
			{"offset=5", 100, 5, 0, 2, false},
		} {
			r = e.do(t, "GET", "/api/reservations/timeline?reservationId=r-ok&"+c.query, nil)
			checkPagination(t, r.body, c.limit, c.offset, c.returned, c.total, c.more)
		}

		// The end's phases: release and power.
		// (reservation_id: the snake_case alias.) lab-ws-02 was never
		// polled: heartbeat null.
		r = e.do(t, "GET", "/api/reservations/timeline?reservation_id=r-end", nil)
		wantOK(t, r, "phases", "heartbeat")
		phases = obj(t, r.body["phases"], "phases")
		if phases["release"] == nil || obj(t, phases["power"], "power phase")["action"] != "power:shutdown" || phases["wake"] != nil || phases["prepare"] != nil {
			t.Errorf("r-end phases: %v", phases)
		}
		if r.body["heartbeat"] != nil {
			t.Errorf("r-end heartbeat %v, want null (lab-ws-02 never polled)", r.body["heartbeat"])
		}
		// A lab no host serves: host and heartbeat null, no operations.
		e.insertReservation(t, "r-lab9", "9", "CONFIRMED", now)
		r = e.do(t, "GET", "/api/reservations/timeline?reservationId=r-lab9", nil)
		wantOK(t, r, "host", "heartbeat", "operations")
		if r.body["host"] != nil || r.body["heartbeat"] != nil || len(arr(t, r.body["operations"], "operations")) != 0 {
			t.Errorf("timeline of an unserved lab: %s", r)
		}
		checkPagination(t, r.body, 100, 0, 0, 0, false)
	})

	t.Run("operations recent", func(t *testing.T) {
		r := e.do(t, "GET", "/api/operations/recent", nil)
		wantOK(t, r, "operations", "pagination")
		ops := arr(t, r.body["operations"], "operations")
		total := e.queryInt(t, `SELECT COUNT(*) FROM reservation_operations`)
		checkPagination(t, r.body, 100, 0, min(total, 100), total, total > 100)
		var last time.Time
		for i, o := range ops {
			op := obj(t, o, "operation")
			hasKeys(t, op, "operation", "action", "status", "success", "message", "payload", "responseCode", "durationMs", "createdAt")
			ts, err := time.Parse(time.RFC3339Nano, op["createdAt"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 && ts.After(last) {
				t.Errorf("operations not newest first at %d", i)
			}
			last = ts
		}
		r = e.do(t, "GET", "/api/operations/recent?reservationId=r-fail&limit=2", nil)
		checkPagination(t, r.body, 2, 0, 2, 3, true)
		for _, o := range arr(t, r.body["operations"], "operations") {
			if o.(map[string]any)["reservationId"] != "r-fail" {
				t.Errorf("filter r-fail: %v", o)
			}
		}
		r = e.do(t, "GET", "/api/operations/recent?reservationId=r-fail&limit=2&offset=2", nil)
		checkPagination(t, r.body, 2, 2, 1, 3, false)
	})

	t.Run("hosts", func(t *testing.T) {
		r := e.do(t, "GET", "/api/hosts", nil)
		wantOK(t, r, "hosts")
		hs := arr(t, r.body["hosts"], "hosts")
		if len(hs) != 5 {
			t.Fatalf("hosts: %d", len(hs))
		}
		for _, h := range hs {
			hm := obj(t, h, "host")
			hasKeys(t, hm, "host", "name", "quarantined", "heartbeat")
			for k := range hm {
				if strings.Contains(strings.ToLower(k), "pass") {
					t.Errorf("GET /api/hosts has %q", k)
				}
			}
			if hm["name"] == "lab-ws-01" && hm["heartbeat"] == nil {
				t.Errorf("lab-ws-01 has no heartbeat summary after a poll: %v", hm)
			}
		}
	})

	t.Run("quarantine", func(t *testing.T) {
		wantErr(t, e.do(t, "POST", "/api/hosts/quarantine", map[string]any{}), 400, "BAD_REQUEST", "host is required")
		wantErr(t, e.do(t, "POST", "/api/hosts/quarantine", map[string]any{"host": "lab-ws-99"}), 404, "HOST_NOT_FOUND", "host 'lab-ws-99' not found in config")
		timelineHost := func() any {
			r := e.do(t, "GET", "/api/reservations/timeline?reservationId=r-lab4", nil)
			wantOK(t, r, "host")
			if r.body["host"] == nil {
				return nil
			}
			return obj(t, r.body["host"], "host")["name"]
		}
		if h := timelineHost(); h != "lab-ws-04" {
			t.Errorf("lab 4 served by %v, want lab-ws-04", h)
		}
		r := e.do(t, "POST", "/api/hosts/quarantine", map[string]any{"host": "LAB-WS-04"})
		wantOK(t, r, "host", "quarantined")
		if r.body["host"] != "lab-ws-04" || r.body["quarantined"] != true || len(r.body) != 2 {
			t.Errorf("quarantine: %s", r)
		}
		if h := timelineHost(); h != "lab-ws-05" {
			t.Errorf("lab 4 with lab-ws-04 quarantined served by %v, want lab-ws-05", h)
		}
		if r := e.do(t, "GET", "/health", nil, noToken); r.body["hosts_loaded"] != 4.0 {
			t.Errorf("health with one host quarantined: %s", r)
		}
		for _, h := range arr(t, e.do(t, "GET", "/api/hosts", nil).body["hosts"], "hosts") {
			hm := h.(map[string]any)
			if (hm["name"] == "lab-ws-04") != (hm["quarantined"] == true) {
				t.Errorf("GET /api/hosts quarantine flags: %v", hm)
			}
		}
		if n := e.queryInt(t, `SELECT COUNT(*) FROM lab_host_quarantine WHERE quarantined = 1`); n != 1 {
			t.Errorf("stored quarantine flags: %d, want 1", n)
		}
		// The flag is stored: a second instance on the same database sees it.
		e2 := startE2E(t, e2eOpts{dsn: e.dsn, catalogPath: e.path})
		if r := e2.do(t, "GET", "/health", nil, noToken); r.body["hosts_loaded"] != 4.0 {
			t.Errorf("second instance: health %s, want 4 hosts (lab-ws-04 quarantined)", r)
		}
		for _, h := range arr(t, e2.do(t, "GET", "/api/hosts", nil).body["hosts"], "hosts") {
			if hm := h.(map[string]any); hm["name"] == "lab-ws-04" && hm["quarantined"] != true {
				t.Errorf("second instance: %v", hm)
			}
		}
		r = e.do(t, "POST", "/api/hosts/quarantine", map[string]any{"name": "lab-ws-05", "quarantined": true})
		wantOK(t, r)
		if h := timelineHost(); h != nil {
			t.Errorf("lab 4 with both hosts quarantined served by %v, want null", h)
		}
		for _, name := range []string{"lab-ws-04", "lab-ws-05"} {
			r = e.do(t, "POST", "/api/hosts/quarantine", map[string]any{"host": name, "quarantined": false})
			if r.code != 200 || r.body["quarantined"] != false {
				t.Errorf("unquarantine %s: %s", name, r)
			}
		}
		if h := timelineHost(); h != "lab-ws-04" {
			t.Errorf("lab 4 after unquarantine served by %v", h)
		}
	})

	t.Run("hosts reload", func(t *testing.T) {
		good, err := os.ReadFile(e.path)
		if err != nil {
			t.Fatal(err)
		}
		r := e.do(t, "POST", "/api/hosts/reload", nil)
		wantOK(t, r, "reloaded", "hosts")
		if r.body["reloaded"] != true || r.body["hosts"] != 5.0 {
			t.Errorf("reload: %s", r)
		}
		for _, bad := range []string{`{not json`, `{"hosts": [{"name": "x"}]}`, `{"hosts": [{"name": "a", "address": "127.0.0.1"}, {"name": "A", "address": "127.0.0.2"}]}`, ``} {
			if err := os.WriteFile(e.path, []byte(bad), 0o600); err != nil {
				t.Fatal(err)
			}
			r = e.do(t, "POST", "/api/hosts/reload", nil)
			if r.code < 400 {
				t.Errorf("reload of %q: %s", bad, r)
				continue
			}
			checkErrorContract(t, r)
			if msg, _ := r.body["error"].(string); !strings.Contains(msg, "previous catalog kept") {
				t.Errorf("reload of %q: error %q lacks the reason", bad, msg)
			}
			if n := len(arr(t, e.do(t, "GET", "/api/hosts", nil).body["hosts"], "hosts")); n != 5 {
				t.Errorf("after a refused reload: %d hosts, want the previous 5", n)
			}
			if r := e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status"}); r.code != 200 {
				t.Errorf("after a refused reload: %s", r)
			}
		}
		// A good smaller file takes effect.
		if err := os.WriteFile(e.path, []byte(`{"hosts": [{"name": "solo", "address": "127.0.0.1", "labs": ["9"]}]}`), 0o600); err != nil {
			t.Fatal(err)
		}
		r = e.do(t, "POST", "/api/hosts/reload", nil)
		if r.code != 200 || r.body["hosts"] != 1.0 {
			t.Errorf("reload of one host: %s", r)
		}
		if err := os.WriteFile(e.path, good, 0o600); err != nil {
			t.Fatal(err)
		}
		if r = e.do(t, "POST", "/api/hosts/reload", nil); r.body["hosts"] != 5.0 {
			t.Errorf("reload back: %s", r)
		}
	})

	t.Run("openapi", func(t *testing.T) {
		r := e.do(t, "GET", "/api/openapi.json", nil)
		wantOK(t, r, "openapi", "paths")
		if v, _ := r.body["openapi"].(string); !strings.HasPrefix(v, "3.1") {
			t.Errorf("openapi %q", r.body["openapi"])
		}
		paths := obj(t, r.body["paths"], "paths")
		for _, rt := range apiRoutes() {
			if _, ok := paths[rt.path]; !ok {
				t.Errorf("openapi.json lacks %s", rt.path)
			}
		}
	})

	t.Run("internal error", func(t *testing.T) {
		// An unexpected failure is exactly the internal error; the cause
		// goes to the log only, on a line with the request id.
		if _, err := e.db.Exec("RENAME TABLE reservation_operations TO reservation_operations_away"); err != nil {
			t.Fatal(err)
		}
		r := e.do(t, "GET", "/api/operations/recent", nil, withHeader("X-Request-ID", "e2e-internal-1"))
		if _, err := e.db.Exec("RENAME TABLE reservation_operations_away TO reservation_operations"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, r, 500, "INTERNAL_ERROR", "Internal server error")
		if strings.Contains(string(r.raw), "reservation_operations") {
			t.Errorf("the cause reached the answer: %s", r.raw)
		}
		var found bool
		for _, line := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(line, "e2e-internal-1") && strings.Contains(line, "reservation_operations") {
				found = true
			}
		}
		if !found {
			t.Errorf("no log line with the request id and the cause")
		}
		if r := e.do(t, "GET", "/api/operations/recent", nil); r.code != 200 {
			t.Errorf("after the table is back: %s", r)
		}
	})

	// The server is still up after everything.
	if r := e.do(t, "GET", "/health", nil, noToken); r.code != 200 {
		t.Errorf("health at the end: %s", r)
	}
	e.checkRequestIDs(t)
}

// wantFlow checks a reservation flow answer and returns its steps.
func wantFlow(t *testing.T, r e2eResp, status int, id, host, lab string, actions ...string) []map[string]any {
	t.Helper()
	if r.code != status || r.body == nil {
		t.Fatalf("want %d flow answer, got %s", status, r)
	}
	hasKeys(t, r.body, "flow", "success", "reservationId", "host", "labId", "steps")
	if r.body["success"] != (status == 200) || r.body["reservationId"] != id || r.body["host"] != host || r.body["labId"] != lab {
		t.Errorf("flow: %s", r)
	}
	var steps []map[string]any
	for _, s := range arr(t, r.body["steps"], "steps") {
		st := obj(t, s, "step")
		hasKeys(t, st, "step", "action", "success", "status", "message", "durationMs", "details")
		steps = append(steps, st)
	}
	var got []string
	for _, s := range steps {
		got = append(got, fmt.Sprint(s["action"]))
	}
	if !slices.Equal(got, actions) && !(len(got) == 0 && len(actions) == 0) {
		t.Fatalf("steps %v, want %v: %s", got, actions, r.raw)
	}
	return steps
}

// checkCommandStep checks a command step's shape and meaning.
func checkCommandStep(t *testing.T, st map[string]any, action, status string, exit int, args []string) {
	t.Helper()
	wantSuccess := status != "failed"
	if st["action"] != action || st["status"] != status || st["success"] != wantSuccess || st["message"] != fmt.Sprintf("Exit code %d", exit) {
		t.Errorf("step: %v, want %s %s exit %d", st, action, status, exit)
	}
	d := obj(t, st["details"], "command details")
	hasKeys(t, d, "details", "exitCode", "stdout", "stderr", "args", "durationMs")
	if d["exitCode"] != float64(exit) {
		t.Errorf("details.exitCode %v, want %d", d["exitCode"], exit)
	}
	var got []string
	for _, a := range arr(t, d["args"], "details.args") {
		got = append(got, fmt.Sprint(a))
	}
	if !slices.Equal(got, args) && !(len(got) == 0 && len(args) == 0) {
		t.Errorf("details.args %q, want %q", got, args)
	}
}

// checkPagination checks the pagination object and its arithmetic.
func checkPagination(t *testing.T, body map[string]any, limit, offset, returned, total int, hasMore bool) {
	t.Helper()
	if body == nil {
		t.Fatal("no body")
	}
	p := obj(t, body["pagination"], "pagination")
	hasKeys(t, p, "pagination", "limit", "offset", "page", "pageSize", "returned", "total", "hasMore", "nextOffset")
	want := map[string]any{"limit": float64(limit), "offset": float64(offset), "returned": float64(returned),
		"total": float64(total), "hasMore": hasMore, "pageSize": float64(limit), "page": float64(offset/limit + 1)}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("pagination.%s = %v, want %v (%v)", k, p[k], v, p)
		}
	}
	if hasMore {
		if p["nextOffset"] != float64(offset+returned) {
			t.Errorf("nextOffset %v, want %d", p["nextOffset"], offset+returned)
		}
	} else if p["nextOffset"] != nil {
		t.Errorf("nextOffset %v without more", p["nextOffset"])
	}
	if ops, ok := body["operations"].([]any); !ok || len(ops) != returned {
		t.Errorf("operations: %d, returned %d", len(ops), returned)
	}
}

type route struct{ method, path string }

// apiRoutes are the routes behind the guard, from the handler's own table.
func apiRoutes() []route {
	var out []route
	for _, rt := range api.Routes {
		if rt.Auth {
			out = append(out, route{rt.Method, rt.Path})
		}
	}
	return out
}

// TestE2E_NoDatabase: a server without MYSQL_DSN and without the embedded
// database (as a Lambda function runs). It also allows credential
// overrides: a wrong one is the station's refusal, and no override
// password reaches an answer or the log.
func TestE2E_NoDatabase(t *testing.T) {
	e := startE2E(t, e2eOpts{noDB: true, env: map[string]string{"OPS_ALLOW_CREDENTIAL_OVERRIDE": "true"}})
	e.secrets = append(e.secrets, "hunter2-override")
	h := e.sim.Host("lab-ws-01")
	wantErr(t, e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status", "user": h.User(), "password": "hunter2-override"}),
		502, "STATION_ERROR", "host 'lab-ws-01' refused the worker's credentials (check winrm_user, winrm_pass and winrm_transport)")
	r := e.do(t, "POST", "/api/winrm", map[string]any{"host": "lab-ws-01", "command": "status", "user": h.User(), "password": h.Password()})
	if r.code != 200 || r.body["exit_code"] != 0.0 {
		t.Errorf("winrm with the right override: %s", r)
	}

	r = e.do(t, "GET", "/health", nil, noToken)
	if r.code != 200 || r.body["db"] != false || r.body["db_kind"] != "none" {
		t.Errorf("health: %s", r)
	}
	wantErr(t, e.do(t, "GET", "/api/reservations/timeline?reservationId=r-1", nil), 500, "DB_NOT_CONFIGURED", "Database not configured")
	// No DB is checked first, before the missing id.
	wantErr(t, e.do(t, "GET", "/api/reservations/timeline", nil), 500, "DB_NOT_CONFIGURED", "Database not configured")
	wantErr(t, e.do(t, "GET", "/api/operations/recent", nil), 500, "DB_NOT_CONFIGURED", "Database not configured")
	wantErr(t, e.do(t, "POST", "/api/hosts/quarantine", map[string]any{"host": "lab-ws-01"}), 500, "DB_NOT_CONFIGURED", "Database not configured")
	r = e.do(t, "POST", "/api/heartbeat/poll", map[string]any{"host": "lab-ws-01"})
	wantOK(t, r, "heartbeat", "stored")
	if r.body["stored"] != false {
		t.Errorf("poll without a database: %s", r)
	}
	r = e.do(t, "POST", "/api/reservations/start", map[string]any{"reservationId": "r-1", "host": "lab-ws-01", "wake": false, "guardGrace": 1})
	if r.code != 200 || r.body["success"] != true {
		t.Errorf("start without a database: %s", r)
	}
}

// TestE2E_SourceNotAllowed: a source outside OPS_ALLOWED_CIDRS is a 403,
// even with the token; /health stays open.
func TestE2E_SourceNotAllowed(t *testing.T) {
	e := startE2E(t, e2eOpts{noDB: true, env: map[string]string{"OPS_ALLOWED_CIDRS": "10.0.0.0/8"}})
	for _, rt := range apiRoutes() {
		wantErr(t, e.do(t, rt.method, rt.path, "{}"), 403, "", "")
	}
	// X-Forwarded-For from a peer that is not a trusted proxy is ignored.
	wantErr(t, e.do(t, "GET", "/api/hosts", nil, withHeader("X-Forwarded-For", "10.1.2.3")), 403, "", "")
	if r := e.do(t, "GET", "/health", nil, noToken); r.code != 200 {
		t.Errorf("health: %s", r)
	}

	// Behind a trusted proxy (loopback here), the forwarded source counts.
	p := startE2E(t, e2eOpts{noDB: true, env: map[string]string{"OPS_ALLOWED_CIDRS": "10.0.0.0/8", "OPS_TRUSTED_PROXIES": "127.0.0.1/32"}})
	wantOK(t, p.do(t, "GET", "/api/hosts", nil, withHeader("X-Forwarded-For", "10.1.2.3")), "hosts")
	wantErr(t, p.do(t, "GET", "/api/hosts", nil, withHeader("X-Forwarded-For", "8.8.8.8")), 403, "", "")
	wantErr(t, p.do(t, "GET", "/api/hosts", nil, withHeader("X-Forwarded-For", "10.1.2.3, 8.8.8.8")), 403, "", "")
	wantErr(t, p.do(t, "GET", "/api/hosts", nil), 403, "", "")
}

// TestE2E_NoToken: no LAB_MANAGER_TOKEN: every /api/* route is a 503,
// /health stays open.
func TestE2E_NoToken(t *testing.T) {
	e := startE2E(t, e2eOpts{noDB: true, env: map[string]string{"LAB_MANAGER_TOKEN": ""}})
	for _, rt := range apiRoutes() {
		wantErr(t, e.do(t, rt.method, rt.path, "{}"), 503, "", "")
		wantErr(t, e.do(t, rt.method, rt.path, "{}", noToken), 503, "", "")
	}
	if r := e.do(t, "GET", "/health", nil, noToken); r.code != 200 {
		t.Errorf("health: %s", r)
	}
}
