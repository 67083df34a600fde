package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/ops"
)

// hostileBodies are refused by every POST route, whatever its fields: not
// one JSON object, broken JSON, duplicate keys, too deep, too large, not
// UTF-8. Each is a 4xx in the error contract.
var hostileBodies = []struct {
	name, body string
}{
	{"not json", `not json`},
	{"empty array", `[]`},
	{"array of object", `[{}]`},
	{"null", `null`},
	{"true", `true`},
	{"number", `0`},
	{"string", `"host"`},
	{"open brace", `{`},
	{"close brace", `}`},
	{"duplicate key", `{"a":1,"a":2}`},
	{"nested duplicate", `{"a":{"b":1,"b":2}}`},
	{"duplicate by escape", `{"a":"x","\u0061":"y"}`},
	{"duplicate NUL keys", `{"\u0000":1,"\u0000":2}`},
	{"deep arrays", `{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`},
	{"deep objects", strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40)},
	{"very deep", strings.Repeat("[", 100000) + strings.Repeat("]", 100000)},
	{"deep unclosed", `{"a":` + strings.Repeat("[", 50000)},
	{"invalid utf-8", "{\"a\":\"\xff\"}"},
	{"overlong utf-8", "{\"a\":\"\xc0\xaf\"}"},
	{"utf-16", "\xff\xfe{\x00}\x00"},
	{"BOM", "\xef\xbb\xbf{}"},
	{"NUL first", "\x00{}"},
	{"NUL after", "{}\x00"},
	{"two objects", `{"a":1}{"b":2}`},
	{"trailing garbage", `{"a":1} x`},
	{"single quotes", `{'a':1}`},
	{"unquoted key", `{a:1}`},
	{"NaN", `{"a":NaN}`},
	{"Infinity", `{"a":Infinity}`},
	{"trailing comma", `{"a":1,}`},
	{"line comment", "// c\n{}"},
	{"block comment", `{"a":1 /* c */}`},
	{"unclosed array", `{"a":[`},
	{"unterminated string", `{"a":"x}`},
	{"raw control char", "{\"a\":\"\x01\"}"},
	{"raw newline in string", "{\"a\":\"x\ny\"}"},
	{"leading zero", `{"a":01}`},
	{"bare minus", `{"a":-}`},
	{"bad literal", `{"a":tru}`},
	{"bad escape", `{"a":"\u12"}`},
	{"missing colon", `{"a" 1}`},
	{"lone comma", `{,}`},
	{"key without value", `{"a"}`},
	{"10 MB", `{"a":"` + strings.Repeat("x", 10<<20) + `"}`},
	{"just over the limit", `{"a":"` + strings.Repeat("x", MaxBody) + `"}`},
	{"many keys over the limit", "{" + strings.Repeat(`"k":1,`, MaxBody/6) + `"z":1}`},
	{"CRLF injection outside JSON", "{}\r\nX-Injected: 1"},
	{"SQL outside JSON", `{}; DROP TABLE reservation_operations; --`},
}

// hostRoutes take a host; an injection string there is an unknown host
// (404) or another 4xx, never a 2xx and never a 5xx.
var hostRoutes = map[string]func(host string) string{
	"/api/wol":                func(h string) string { return `{"host":` + h + `}` },
	"/api/winrm":              func(h string) string { return `{"host":` + h + `,"command":"status"}` },
	"/api/heartbeat/poll":     func(h string) string { return `{"host":` + h + `}` },
	"/api/reservations/start": func(h string) string { return `{"reservationId":"r1","host":` + h + `}` },
	"/api/reservations/end":   func(h string) string { return `{"reservationId":"r1","hostName":` + h + `}` },
	"/api/hosts/quarantine":   func(h string) string { return `{"name":` + h + `}` },
}

var hostileStrings = []string{
	`"lab-ws-01'; DROP TABLE lab_hosts; --"`,
	`"lab-ws-01\" OR \"1\"=\"1"`,
	`"lab-ws-01\r\nINFO forged log line"`,
	`"lab-ws-01\u2028next"`,
	`"..\\..\\windows\\system32"`,
	`"$(reboot)"`,
	`"lab-ws-01 & shutdown /s"`,
	`"%SYSTEMROOT%"`,
	`"\u0000"`,
	`"\ud800"`,
	`"lab-ws-0\u0131"`,
	`"ＬＡＢ-ＷＳ-01"`,
	`"<script>alert(1)</script>"`,
	`"{{7*7}}"`,
	`"` + strings.Repeat("a", 60000) + `"`,
}

func TestHandlers_HostileBodies(t *testing.T) {
	hs := newHarness(t)
	n := 0
	for path := range postWires() {
		for _, c := range hostileBodies {
			w := hs.do(t, "POST", path, c.body)
			n++
			if w.Code < 400 || w.Code >= 500 {
				t.Errorf("%s %s: got %d %.200s", path, c.name, w.Code, w.Body)
			}
		}
		// A body that is not JSON by its media type.
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "json", ";;;"} {
			w := hs.do(t, "POST", path, `{}`, withToken, func(r *http.Request) { r.Header.Set("Content-Type", ct) })
			n++
			if w.Code != 415 {
				t.Errorf("%s Content-Type %q: got %d", path, ct, w.Code)
			}
		}
	}
	for path, body := range hostRoutes {
		for _, h := range hostileStrings {
			w := hs.do(t, "POST", path, body(h))
			n++
			if w.Code < 400 || w.Code >= 500 {
				t.Errorf("%s host %.40s: got %d %.200s", path, h, w.Code, w.Body)
			}
		}
	}
	if strings.Contains(hs.logs.String(), "\nINFO forged") {
		t.Error("a forged log line")
	}
	t.Logf("%d hostile requests", n)
}

// TestHandlers_HostileQueries: the GET routes never answer 5xx, and the
// parser turns what it cannot read into "not given".
func TestHandlers_HostileQueries(t *testing.T) {
	hs := newHarness(t)
	queries := []string{
		"", "reservationId=", "reservationId=%zz", "reservationId=a;b", "reservationId=a&reservationId=b",
		"limit=abc", "limit=-1", "limit=99999999999999999999999", "limit=1e3", "limit=0x10", "limit=%00", "limit= 5",
		"offset=-5", "offset=1.5", "limit=5&limit=6", "reservationId=%0d%0aINFO+forged", "reservationId=" + strings.Repeat("x", 20000),
		"reservationId=%ff%fe", "reservationId=%e2%80%a8", "reservationId=0xabc123&limit=%2B5", "&&&", "=", "==&=", "%", "reservationId",
		"reservationId=0xabc123'%20OR%201=1--", "reservationId[]=x", "reservationId=0xabc123#frag", strings.Repeat("a=1&", 5000),
	}
	for _, path := range []string{"/api/reservations/timeline", "/api/operations/recent", "/api/hosts", "/health", "/api/openapi.json"} {
		for _, q := range queries {
			r := httptest.NewRequest("GET", "/", nil)
			r.URL.Path, r.URL.RawQuery = path, q
			withToken(r)
			w := httptest.NewRecorder()
			hs.h.ServeHTTP(w, r)
			if w.Code >= 500 || w.Code < 200 {
				t.Errorf("%s?%.60s: got %d %s", path, q, w.Code, w.Body)
			}
			if w.Code >= 400 {
				checkAnswer(t, r, w)
			}
		}
	}
	if strings.Contains(hs.logs.String(), "\nINFO forged") {
		t.Error("a forged log line")
	}
}

func TestParsePageQuery(t *testing.T) {
	cases := []struct {
		raw           string
		id, host      string
		limit, offset *int
		bad           bool
	}{
		{raw: "reservationId=r&limit=10&offset=5", id: "r", limit: ptr(10), offset: ptr(5)},
		{raw: "host=lab-ws-01&reservationId=r", id: "r", host: "lab-ws-01"},
		{raw: "host=a&host=b", bad: true},
		{raw: "reservation_id=r", id: "r"},
		{raw: "reservationId=r&reservation_id=r", id: "r"},
		{raw: "limit=abc&offset=x"},
		{raw: "limit=-1&offset=-1"},
		{raw: "limit=1.5"},
		{raw: "limit=99999999999999999999999"},
		{raw: "limit=0&offset=0", limit: ptr(0), offset: ptr(0)},
		{raw: "unknown=1&limit=2", limit: ptr(2)},
		{raw: "reservationId=a&reservation_id=b", bad: true},
		{raw: "limit=1&limit=2", bad: true},
		{raw: "reservationId=%zz", bad: true},
		{raw: "a=1;b=2", bad: true},
	}
	for _, c := range cases {
		got, err := parsePageQuery(c.raw)
		if c.bad {
			if oe, ok := ops.AsError(err); !ok || StatusOf(oe.Code) != 400 {
				t.Errorf("%q: got %v, want a 400", c.raw, err)
			}
			continue
		}
		want := pageQuery{ReservationID: c.id, Host: c.host, Limit: c.limit, Offset: c.offset}
		if err != nil || !equalPage(got, want) {
			t.Errorf("%q: got %+v %v, want %+v", c.raw, got, err, want)
		}
	}
}

func equalPage(a, b pageQuery) bool {
	eq := func(x, y *int) bool { return x == nil && y == nil || x != nil && y != nil && *x == *y }
	return a.ReservationID == b.ReservationID && a.Host == b.Host && eq(a.Limit, b.Limit) && eq(a.Offset, b.Offset)
}

// TestHandlers_NoSecretAnywhere sends the token and a password where a
// careless handler would echo or log them; the harness checks every
// answer and every log line for both.
func TestHandlers_NoSecretAnywhere(t *testing.T) {
	hs := newHarness(t)
	bodies := []string{
		`{"host":"lab-ws-01","command":"status","user":"admin","password":"` + testPasswd + `"}`,
		`{"host":"lab-ws-09","command":"status","password":"` + testPasswd + `"}`,
		`{"host":"lab-ws-01","command":"status","password":1}`,
		`{"host":"lab-ws-01","command":"status","password":"` + testPasswd + `","password":"x"}`,
		`{"host":"lab-ws-01","command":"status","Password":"` + testPasswd + `"}`,
		`{"host":"lab-ws-01","command":"status","password":"` + testPasswd + `"`,
		`{"host":"lab-ws-01","command":"status","password":"` + testPasswd + `","pad":"` + strings.Repeat("x", MaxBody) + `"}`,
	}
	for _, b := range bodies {
		if w := hs.do(t, "POST", "/api/winrm", b); w.Code < 400 || w.Code >= 500 {
			t.Errorf("%.80s: got %d", b, w.Code)
		}
	}
	// The token in every carrier, right and wrong, on every route, and in
	// a query string (the access log writes the path only).
	for _, rt := range Routes {
		for _, edit := range []func(*http.Request){
			withToken,
			func(r *http.Request) { r.Header.Set(TokenHeader, testToken+"-wrong") },
			func(r *http.Request) { r.AddCookie(&http.Cookie{Name: TokenCookie, Value: "x" + testToken}) },
			func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken) },
		} {
			hs.do(t, rt.Method, rt.Path+"?token="+url.QueryEscape(testToken), "", edit)
		}
	}
	// A hosts answer built from entries that carry a password.
	if w := hs.do(t, "GET", "/api/hosts", ""); w.Code != 200 {
		t.Errorf("hosts: %d", w.Code)
	}
	// An internal error whose cause names the password: logged cause is the
	// use case's business, but the answer must not carry it.
	hs.svc.err = ops.Wrap(ops.CodeInternal, "winrm auth failed", nil)
	if w := hs.do(t, "POST", "/api/winrm", `{"host":"lab-ws-01","command":"status"}`); w.Code != 500 {
		t.Errorf("internal: %d", w.Code)
	}
}
