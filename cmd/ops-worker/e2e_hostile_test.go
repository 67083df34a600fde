package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/api"
	"github.com/ops-worker/ops-worker/internal/labsim"
)

// hostileBody is one request body sent to a POST route.
type hostileBody struct {
	name        string
	body        []byte
	contentType string // "": application/json
	// fieldLevel: one well-formed JSON object whose only fault is in a
	// field's type or name; a route without fields (reload) tolerates it,
	// as it tolerates any unknown field.
	fieldLevel bool
}

// structuralBodies are refused by every POST route whatever its fields:
// not one JSON object, malformed, oversize, too deep, ambiguous, not
// UTF-8, not JSON at all.
func structuralBodies() []hostileBody {
	deepArr := `{"x": ` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`
	deepObj := strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000)
	deep33 := strings.Repeat(`{"a":`, 33) + `1` + strings.Repeat(`}`, 33)
	tenMB := `{"host": "` + strings.Repeat("A", 10<<20) + `"}`
	var many strings.Builder
	many.WriteString(`{"host": "no-such-host"`)
	for i := range 6000 {
		fmt.Fprintf(&many, `, "k%d": 1`, i)
	}
	many.WriteString("}")
	xml := `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r><host>&x;</host></r>`
	b := func(name, s string) hostileBody { return hostileBody{name: name, body: []byte(s)} }
	f := func(name, s string) hostileBody { return hostileBody{name: name, body: []byte(s), fieldLevel: true} }
	return []hostileBody{
		b("not JSON", `host=lab-ws-01&command=status`),
		b("empty array", `[]`),
		b("array of the object", `[{"host": "lab-ws-01", "command": "status"}]`),
		b("null", `null`),
		b("string", `"lab-ws-01"`),
		b("number", `42`),
		b("boolean", `true`),
		b("unterminated", `{"host": "lab-ws-01"`),
		b("open brace", `{`),
		b("trailing comma", `{"host": "lab-ws-01",}`),
		b("single quotes", `{'host': 'lab-ws-01'}`),
		b("unquoted key", `{host: "lab-ws-01"}`),
		b("two objects", `{} {}`),
		b("trailing garbage", `{"host": "lab-ws-01"} x`),
		b("NaN", `{"port": NaN}`),
		b("comment", `{"host": "lab-ws-01" /* c */}`),
		b("10 MB", tenMB),
		b("deep arrays", deepArr),
		b("deep objects", deepObj),
		b("33 levels", deep33),
		b("duplicate keys", `{"host": "lab-ws-01", "host": "lab-ws-02"}`),
		f("duplicate keys, other case", `{"host": "lab-ws-01", "HOST": "lab-ws-02"}`),
		f("key matching only by case", `{"HOST": "lab-ws-01"}`),
		b("BOM", "\xef\xbb\xbf{\"host\": \"lab-ws-01\"}"),
		b("invalid UTF-8", "{\"host\": \"\xff\xfe\"}"),
		b("overlong UTF-8 slash", "{\"host\": \"\xc0\xaf..\xc0\xafetc\"}"),
		b("overlong UTF-8 NUL", "{\"host\": \"a\xc0\x80b\"}"),
		b("surrogate half in UTF-8", "{\"host\": \"\xed\xa0\x80\"}"),
		b("raw NUL in a string", "{\"host\": \"lab\x00ws\"}"),
		b("raw NUL between tokens", "{\"host\":\x00\"lab-ws-01\"}"),
		b("raw CR LF in a string", "{\"host\": \"a\r\nb\"}"),
		b("XML as JSON", xml),
		{name: "XML as XML", body: []byte(xml), contentType: "application/xml"},
		{name: "text/plain", body: []byte(`{"host": "lab-ws-01"}`), contentType: "text/plain"},
		{name: "form", body: []byte(`host=lab-ws-01`), contentType: "application/x-www-form-urlencoded"},
		{name: "bad media type", body: []byte(`{}`), contentType: "application/json; charset"},
		f("object as string field", `{"host": {"$ne": null}}`),
		f("array as string field", `{"host": ["lab-ws-01"]}`),
		f("number as string field", `{"host": 1}`),
		f("boolean as string field", `{"host": true}`),
		f("huge number", `{"host": 1e999999}`),
		f("6000 unknown fields", many.String()),
		f("unknown field named for log injection", `{"host": "no-such-host", "a\r\n{\"msg\":\"forged\"}\u2028`+strings.Repeat("x", 50000)+`": 1}`),
	}
}

// valueInjections are JSON string values that must never name a host, run
// anything, or reach a log line unescaped.
var valueInjections = []struct{ name, value string }{
	{"SQL", "lab-ws-01' OR '1'='1"},
	{"SQL drop", "x'); DROP TABLE reservation_operations; --"},
	{"SQL comment", "lab-ws-01'-- "},
	{"shell semicolon", "lab-ws-01; shutdown /s /t 0"},
	{"shell subst", "$(reboot)"},
	{"shell backtick", "`id`"},
	{"shell pipe", "lab-ws-01 | net user x y /add"},
	{"cmd caret", "lab-ws-01^&calc"},
	{"cmd percent", "%COMSPEC%"},
	{"CR LF log injection", "lab-ws-01\r\n{\"level\":\"ERROR\",\"msg\":\"forged\"}"},
	{"LF log injection", "x\ntime=2026 level=ERROR msg=forged"},
	{"path traversal", "../../../../etc/passwd"},
	{"windows traversal", `..\..\Windows\System32\config\SAM`},
	{"UNC", `\\evil\share\x`},
	{"XML", `<host xmlns="x"><![CDATA[lab-ws-01]]></host>`},
	{"U+2028", "lab-ws-01\u2028x"},
	{"U+2029", "lab-ws-01\u2029"},
	{"escaped NUL", "lab-ws-01\u0000"},
	{"RTL override", "\u202elab-ws-01"},
	{"zero width", "lab\u200b-ws-01"},
	{"fullwidth", "ｌａｂ-ｗｓ-01"},
	{"dotted I", "LAB-WS-01\u0130"},
	{"BOM inside", "\ufefflab-ws-01"},
	{"ESC sequence", "\x1b[31mlab-ws-01\x1b[0m"},
	{"long", strings.Repeat("lab-ws-01", 6000)},
}

// hostileRoute is a POST route and where a hostile value goes: the body
// with fill(value) must be refused (4xx).
type hostileRoute struct {
	path string
	fill func(v string) map[string]any // nil: the route takes no fields
}

// patternTargets are where the requests of a route with path parameters
// go: a controller or lab that does not exist.
var patternTargets = map[string]string{
	"/api/power/controllers/{controllerId}/outlets/{outlet}/commands": "/api/power/controllers/no-such-pdu/outlets/1/commands",
	"/api/labs/{labId}/power/start":                                   "/api/labs/no-such-lab/power/start",
	"/api/labs/{labId}/power/end":                                     "/api/labs/no-such-lab/power/end",
}

// target is where rt's requests go.
func (rt hostileRoute) target() string {
	if u, ok := patternTargets[rt.path]; ok {
		return u
	}
	return rt.path
}

func hostileRoutes() []hostileRoute {
	return []hostileRoute{
		{"/api/wol", func(v string) map[string]any { return map[string]any{"host": v} }},
		{"/api/winrm", func(v string) map[string]any { return map[string]any{"host": v, "command": "status"} }},
		{"/api/heartbeat/poll", func(v string) map[string]any { return map[string]any{"host": v} }},
		{"/api/reservations/start", func(v string) map[string]any { return map[string]any{"reservationId": "r-hostile", "host": v} }},
		{"/api/reservations/end", func(v string) map[string]any {
			return map[string]any{"reservationId": "r-hostile", "host": v, "powerAction": map[string]any{"mode": "shutdown"}}
		}},
		{"/api/hosts/quarantine", func(v string) map[string]any { return map[string]any{"host": v} }},
		{"/api/hosts/reload", nil},
		{"/api/hosts/local-mode", func(v string) map[string]any { return map[string]any{"host": v, "enabled": true} }},
		{"/api/hosts/discover", func(v string) map[string]any { return map[string]any{"connectionId": v} }},
		{"/api/hosts/provision", func(v string) map[string]any { return map[string]any{"connectionId": v, "name": v} }},
		{"/api/hosts/winrm-credentials", func(v string) map[string]any {
			return map[string]any{"credentialRef": v, "user": "svc", "password": "Hostile-Pw-1"}
		}},
		{"/api/power/controllers", func(v string) map[string]any {
			return map[string]any{"id": v, "name": "PDU", "driver": "mock", "outlets": []any{map[string]any{"outlet": "1"}}}
		}},
		{"/api/power/credentials", func(v string) map[string]any {
			return map[string]any{"credentialRef": v, "type": "snmpv2c", "credentials": map[string]any{"community": "Hostile-c0mm"}}
		}},
		{"/api/power/controllers/{controllerId}/outlets/{outlet}/commands", func(v string) map[string]any {
			return map[string]any{"command": "set_state", "state": "on", "idempotencyKey": v}
		}},
		{"/api/labs/{labId}/power/start", func(v string) map[string]any { return map[string]any{"reservationId": v} }},
		{"/api/labs/{labId}/power/end", func(v string) map[string]any { return map[string]any{"reservationId": v} }},
	}
}

// TestE2E_HostileBodies sends every hostile body to every POST route and
// hostile query strings to every GET route of the real server: each answer
// is a 4xx in the error contract with a request id (a GET whose query is
// merely ignored may be a 200), never a 5xx; the server stays up, logs
// only well-formed JSON lines (no forged line), no station was touched.
func TestE2E_HostileBodies(t *testing.T) {
	e := startE2E(t, e2eOpts{hosts: []labsim.HostOptions{{}, {}}})
	before := 0
	for _, h := range e.sim.Hosts() {
		before += int(h.HTTPRequests())
	}
	covered := map[string]bool{}
	for _, rt := range hostileRoutes() {
		covered[rt.path] = true
	}
	for _, rt := range api.Routes {
		// The tick routes take an optional event (its decoding is fuzzed in
		// internal/api); a well-formed object runs a tick, so they are not
		// part of this suite, whose every answer must be a 4xx.
		if rt.Method == http.MethodPost && !rt.Tick && !covered[rt.Path] {
			t.Errorf("POST %s gets no hostile bodies: add it to hostileRoutes", rt.Path)
		}
	}
	structural := structuralBodies()
	if n := len(structural) + len(valueInjections); n < 40 {
		t.Fatalf("only %d hostile bodies", n)
	}

	// One group, so that the checks below run after every parallel
	// subtest has finished.
	t.Run("requests", func(t *testing.T) {
		t.Run("POST", func(t *testing.T) {
			for _, rt := range hostileRoutes() {
				t.Run(rt.path, func(t *testing.T) {
					t.Parallel()
					for _, hb := range structural {
						ct := hb.contentType
						if ct == "" {
							ct = "application/json"
						}
						r := e.do(t, "POST", rt.target(), hb.body, withHeader("Content-Type", ct))
						if rt.fill == nil && hb.fieldLevel && r.code == 200 && r.body["reloaded"] == true {
							continue
						}
						if r.code < 400 || r.code >= 500 {
							t.Errorf("%s %s: %s, want a 4xx", rt.path, hb.name, trunc(r.raw))
							continue
						}
						checkErrorContract(t, r)
						if hb.name == "10 MB" && r.code != http.StatusRequestEntityTooLarge {
							t.Errorf("%s 10 MB: %d, want 413", rt.path, r.code)
						}
					}
					if rt.fill == nil {
						return
					}
					for _, inj := range valueInjections {
						for _, field := range []string{"host", ""} {
							body := rt.fill(inj.value)
							if field == "" {
								// Also as the reservation id or command, with an
								// unknown host.
								body = rt.fill("no-such-host")
								if _, ok := body["reservationId"]; ok {
									body["reservationId"] = inj.value
								} else if _, ok := body["command"]; ok {
									body["command"] = inj.value
								} else {
									continue
								}
							}
							r := e.do(t, "POST", rt.target(), body)
							if r.code < 400 || r.code >= 500 {
								t.Errorf("%s %s (%s): %s, want a 4xx", rt.path, inj.name, field, trunc(r.raw))
								continue
							}
							checkErrorContract(t, r)
						}
					}
				})
			}
		})

		t.Run("GET", func(t *testing.T) {
			t.Parallel()
			hostileQueries := []string{
				"reservationId=" + url.QueryEscape("' OR 1=1 --"),
				"reservationId=" + url.QueryEscape("x'; DROP TABLE lab_reservations; --"),
				"reservationId=%00",
				"reservationId=%ff%fe",
				"reservationId=%c0%af",
				"reservationId=" + url.QueryEscape("a\r\nlevel=ERROR msg=forged"),
				"reservationId=" + url.QueryEscape("../../etc/passwd"),
				"reservationId=" + url.QueryEscape("<r>&x;</r>"),
				"reservationId=" + strings.Repeat("r", 5000),
				"reservationId=r&reservationId=s",
				"reservationId=r&limit=-1&offset=-1",
				"reservationId=r&limit=99999999999999999999999&offset=99999999999999999999",
				"reservationId=r&limit=1e3&offset=0x10",
				"reservationId=r&limit=%00&offset=%ff",
				"reservationId=r;limit=1",
				"reservationId[]=r",
				"reservationId=\u2028",
				"%zz=1",
				"limit=" + strings.Repeat("9", 1000),
				strings.Repeat("a=1&", 2000),
			}
			for _, rt := range api.Routes {
				if rt.Method != http.MethodGet {
					continue
				}
				path := rt.Path
				for _, q := range hostileQueries {
					r := e.do(t, "GET", path+"?"+q, nil)
					switch {
					case r.code >= 500:
						t.Errorf("GET %s?%.80s: %s", path, q, trunc(r.raw))
					case r.code >= 400:
						checkErrorContract(t, r)
					case path == "/api/reservations/timeline":
						t.Errorf("GET %s?%.80s: %s, want a 4xx (no such reservation)", path, q, trunc(r.raw))
					case r.body == nil:
						t.Errorf("GET %s?%.80s: %d not a JSON object", path, q, r.code)
					}
				}
			}
		})

		t.Run("paths", func(t *testing.T) {
			t.Parallel()
			// Never a redirect or a body outside the contract: a 404 in it.
			for _, p := range []string{"//api/hosts", "/api/hosts/", "/api//hosts", "/API/hosts", "/api/../health", "/api/hosts%2F..",
				"/api/./hosts", "/health/", "/api/", "/api", "/%2e%2e/health", "/api/hosts%00", "/api/hosts;x", "/api/\u2028"} {
				wantErr(t, e.do(t, "GET", p, nil), 404, "NOT_FOUND", "")
			}
		})

	})

	if r := e.do(t, "GET", "/health", nil, noToken); r.code != 200 || r.body["status"] != "ok" {
		t.Fatalf("health after the hostile requests: %s", r)
	}
	after := 0
	for _, h := range e.sim.Hosts() {
		after += int(h.HTTPRequests())
	}
	if after != before {
		t.Errorf("labsim saw %d WinRM requests from refused bodies", after-before)
	}
	if n := e.queryInt(t, `SELECT COUNT(*) FROM reservation_operations`); n != 0 {
		t.Errorf("%d operations recorded from refused bodies", n)
	}
	for i, line := range bytes.Split(bytes.TrimSpace([]byte(e.logs.String())), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Errorf("log line %d is not one JSON object (log injection?): %q", i, trunc(line))
			continue
		}
		if m["msg"] == "forged" || strings.Contains(fmt.Sprint(m["level"]), "forged") {
			t.Errorf("forged log line: %s", line)
		}
	}
	e.checkRequestIDs(t)
	// Bodies are never logged whole: seven 10 MB bodies, 64 KiB field
	// names and the rest leave a small log.
	if n := len(e.logs.String()); n > 2<<20 {
		t.Errorf("the log grew to %d bytes", n)
	}
	if strings.Contains(e.logs.String(), "panic") {
		t.Errorf("panic in the log")
	}
}

func trunc(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}
