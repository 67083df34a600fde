package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/ops"
)

type body struct {
	Host     string   `json:"host"`
	Attempts *int     `json:"attempts"`
	Args     []string `json:"args"`
	Wake     *bool    `json:"wake"`
	Opts     *struct {
		Port int `json:"port"`
	} `json:"wakeOptions"`
}

func decode(t *testing.T, raw string) (body, *ops.Error) {
	t.Helper()
	var b body
	err := decodeJSON([]byte(raw), &b)
	if err == nil {
		return b, nil
	}
	oe, ok := ops.AsError(err)
	if !ok {
		t.Fatalf("decode %q: %v is not an *ops.Error", raw, err)
	}
	return b, oe
}

func TestDecodeJSON_Accepts(t *testing.T) {
	b, err := decode(t, ` {"host":"lab-1","attempts":3,"args":["--x"],"wakeOptions":{"port":9}} `)
	if err != nil {
		t.Fatal(err)
	}
	if b.Host != "lab-1" || *b.Attempts != 3 || b.Opts.Port != 9 || len(b.Args) != 1 {
		t.Fatalf("got %+v", b)
	}
	if _, err := decode(t, ""); err != nil {
		t.Fatalf("empty body: %v", err)
	}
}

func TestDecodeJSON_Refuses(t *testing.T) {
	cases := []struct {
		raw      string
		code     ops.Code
		contains string
	}{
		{`[]`, ops.CodeInvalidJSON, "JSON object"},
		{`null`, ops.CodeInvalidJSON, "JSON object"},
		{`"host"`, ops.CodeInvalidJSON, "JSON object"},
		{`{"host":`, ops.CodeInvalidJSON, "not valid JSON"},
		{`{"host":"a"} {"host":"b"}`, ops.CodeInvalidJSON, "exactly one"},
		{`{"host":"a"}x`, ops.CodeInvalidJSON, ""},
		{`{"host":1}`, ops.CodeInvalidField, "field 'host' must be a string"},
		{`{"attempts":"3"}`, ops.CodeInvalidField, "field 'attempts' must be an integer"},
		{`{"wake":"yes"}`, ops.CodeInvalidField, "field 'wake' must be true or false"},
		{`{"args":"--x"}`, ops.CodeInvalidField, "field 'args' must be an array"},
		{`{"args":[1]}`, ops.CodeInvalidField, "field 'args' must be a string"},
		{`{"wakeOptions":{"port":"9"}}`, ops.CodeInvalidField, "field 'wakeOptions.port' must be an integer"},
		{`{"attempts":1.5}`, ops.CodeInvalidField, "attempts"},
		{`{"attempts":1e400}`, ops.CodeInvalidField, "attempts"},
		{`{"host":"a","host":"b"}`, ops.CodeInvalidJSON, "key 'host' appears twice"},
		{`{"wakeOptions":{"port":1,"port":2}}`, ops.CodeInvalidJSON, "appears twice"},
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), ops.CodeInvalidJSON, "JSON object"},
		{`{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, ops.CodeInvalidJSON, "deeper"},
		{"{\"host\":\"\xff\"}", ops.CodeInvalidJSON, "UTF-8"},
	}
	for _, c := range cases {
		_, err := decode(t, c.raw)
		if err == nil {
			t.Errorf("%.60q: accepted", c.raw)
			continue
		}
		if err.Code != c.code || !strings.Contains(err.Message, c.contains) {
			t.Errorf("%.60q: got %s %q, want %s containing %q", c.raw, err.Code, err.Message, c.code, c.contains)
		}
	}
	// A key may repeat in sibling objects and inside arrays of objects.
	if _, err := decode(t, `{"args":["a","a"],"wakeOptions":{"port":1},"x":[{"port":1},{"port":2}]}`); err != nil {
		t.Errorf("siblings: %v", err)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"host":"a","args":["b"]}`, `[`, `{"a":{"a":1,"a":2}}`, `{"wakeOptions":{"port":9}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b body
		err := decodeJSON(raw, &b)
		if err == nil {
			return
		}
		oe, ok := ops.AsError(err)
		if !ok || StatusOf(oe.Code) >= 500 || StatusOf(oe.Code) < 400 {
			t.Fatalf("%q: %v is not a 4xx ops.Error", raw, err)
		}
		if strings.ContainsAny(oe.Message, "\r\n") {
			t.Fatalf("message carries a line break: %q", oe.Message)
		}
	})
}

// decodeBody is what a POST handler does with a body (see post).
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	raw, err := readBody(w, r)
	if err != nil {
		return err
	}
	return decodeJSON(raw, dst)
}

func TestDecodeBody_LimitAndMedia(t *testing.T) {
	big := `{"host":"` + strings.Repeat("a", 10<<20) + `"}`
	r := httptest.NewRequest("POST", "/api/wol", strings.NewReader(big))
	var b body
	err := decodeBody(httptest.NewRecorder(), r, &b)
	if oe, ok := ops.AsError(err); !ok || oe.Code != ops.CodeBodyTooLarge || StatusOf(oe.Code) != 413 {
		t.Fatalf("10 MB body: %v", err)
	}
	r = httptest.NewRequest("POST", "/api/wol", strings.NewReader(`{}`))
	r.Header.Set("Content-Type", "text/plain")
	err = decodeBody(httptest.NewRecorder(), r, &b)
	if oe, ok := ops.AsError(err); !ok || StatusOf(oe.Code) != 415 {
		t.Fatalf("text/plain: %v", err)
	}
	r = httptest.NewRequest("POST", "/api/wol", strings.NewReader(`{"host":"x"}`))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	if err := decodeBody(httptest.NewRecorder(), r, &b); err != nil || b.Host != "x" {
		t.Fatalf("json with charset: %v %+v", err, b)
	}
}

func TestRequestID(t *testing.T) {
	if got := PickRequestID("abc-1.2:3_4", "gw"); got != "abc-1.2:3_4" {
		t.Errorf("valid caller id replaced: %q", got)
	}
	for _, bad := range []string{"", "a b", "x\r\ny", strings.Repeat("a", 129), "é"} {
		if got := PickRequestID(bad, ""); got == bad || !requestIDPattern.MatchString(got) {
			t.Errorf("PickRequestID(%q) = %q", bad, got)
		}
		if got := PickRequestID(bad, "gw-1"); got != "gw-1" {
			t.Errorf("fallback not used for %q: %q", bad, got)
		}
	}
	if PickRequestID("", "") == PickRequestID("", "") {
		t.Error("two new ids are equal")
	}
}

func TestEscapeLog(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            "plain",
		"a\r\nINFO forged": `a\x0d\x0aINFO forged`,
		"tab\there":        `tab\x09here`,
		"ls\u2028x":        `ls\u2028x`,
	} {
		if got := escapeLog(in); got != want {
			t.Errorf("escapeLog(%q) = %q, want %q", in, got, want)
		}
	}
	if got := escapeLog(strings.Repeat("a", 1000)); len(got) > 300 {
		t.Errorf("long value kept: %d bytes", len(got))
	}
}

// serve runs h behind withRequest and returns the answer and the log.
func serve(t *testing.T, h http.Handler, r *http.Request) (*httptest.ResponseRecorder, errorBody, string) {
	t.Helper()
	var logBuf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logBuf, nil))
	w := httptest.NewRecorder()
	withRequest(h, log, nil, nil).ServeHTTP(w, r)
	var eb errorBody
	if w.Code >= 400 {
		if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil {
			t.Fatalf("error body %q: %v", w.Body.String(), err)
		}
	}
	return w, eb, logBuf.String()
}

func TestWithRequest_PanicIsInternalError(t *testing.T) {
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom secret-cause") })
	r := httptest.NewRequest("GET", "/api/x", nil)
	r.Header.Set("X-Request-ID", "req-1")
	w, eb, logs := serve(t, h, r)
	if w.Code != 500 || eb.Error != "Internal server error" || eb.Code != ops.CodeInternal || eb.RequestID != "req-1" {
		t.Fatalf("got %d %+v", w.Code, eb)
	}
	if strings.Contains(w.Body.String(), "secret-cause") {
		t.Fatal("panic value in the response")
	}
	if !strings.Contains(logs, "secret-cause") || !strings.Contains(logs, `"request_id":"req-1"`) {
		t.Fatalf("log lacks cause or id: %s", logs)
	}
	if w.Header().Get("X-Request-ID") != "req-1" {
		t.Fatal("X-Request-ID not echoed")
	}
}

func TestWriteError_InternalCauseOnlyInLog(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, ops.Wrap(ops.CodeInternal, "db password=hunter2 failed", nil))
	})
	w, eb, logs := serve(t, h, httptest.NewRequest("GET", "/", nil))
	if w.Code != 500 || eb.Error != internalMessage || strings.Contains(w.Body.String(), "hunter2") {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	if !strings.Contains(logs, "internal error") {
		t.Fatalf("cause not logged: %s", logs)
	}
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, ops.Errorf(ops.CodeHostNotFound, "host '%s' not found in config", "lab-ws-09"))
	})
	w, eb, _ = serve(t, h, httptest.NewRequest("GET", "/", nil))
	if w.Code != 404 || eb.Error != "host 'lab-ws-09' not found in config" || eb.Code != ops.CodeHostNotFound || eb.RequestID == "" {
		t.Fatalf("got %d %+v", w.Code, eb)
	}
}

func TestStatusTableCoversEveryCode(t *testing.T) {
	for _, code := range ops.Codes() {
		if status := StatusOf(code); status < 400 || status > 599 {
			t.Errorf("%s -> %d", code, status)
		}
	}
	if StatusOf("NO_SUCH_CODE") != 500 {
		t.Error("unknown code is not a 500")
	}
}

func guarded(g *Guard) http.Handler {
	return g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
}

func TestGuard_Token(t *testing.T) {
	g := &Guard{Token: "s3cret-token", AllowBearer: true}
	cases := []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"none", func(*http.Request) {}, 401},
		{"empty header", func(r *http.Request) { r.Header.Set(TokenHeader, "") }, 401},
		{"wrong", func(r *http.Request) { r.Header.Set(TokenHeader, "s3cret-tokeN") }, 401},
		{"prefix", func(r *http.Request) { r.Header.Set(TokenHeader, "s3cret") }, 401},
		{"header", func(r *http.Request) { r.Header.Set(TokenHeader, "s3cret-token") }, 204},
		{"cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: TokenCookie, Value: "s3cret-token"}) }, 204},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-token") }, 204},
		{"basic", func(r *http.Request) { r.Header.Set("Authorization", "Basic s3cret-token") }, 401},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/api/hosts", nil)
		c.set(r)
		w, eb, _ := serve(t, guarded(g), r)
		if w.Code != c.want {
			t.Errorf("%s: got %d, want %d", c.name, w.Code, c.want)
		}
		if strings.Contains(w.Body.String(), "s3cret") {
			t.Errorf("%s: token in the answer", c.name)
		}
		if c.want == 401 && eb.Code != ops.CodeUnauthorized {
			t.Errorf("%s: code %s", c.name, eb.Code)
		}
	}
	noBearer := &Guard{Token: "s3cret-token"}
	r := httptest.NewRequest("GET", "/api/hosts", nil)
	r.Header.Set("Authorization", "Bearer s3cret-token")
	if w, _, _ := serve(t, guarded(noBearer), r); w.Code != 401 {
		t.Errorf("bearer accepted where not enabled: %d", w.Code)
	}
}

func TestGuard_NoTokenFailsClosed(t *testing.T) {
	r := httptest.NewRequest("GET", "/api/hosts", nil)
	r.Header.Set(TokenHeader, "anything")
	w, eb, _ := serve(t, guarded(&Guard{}), r)
	if w.Code != 503 || eb.Code != ops.CodeAuthNotConfigured {
		t.Fatalf("got %d %+v", w.Code, eb)
	}
	if w, _, _ := serve(t, guarded(&Guard{AuthDisabled: true}), httptest.NewRequest("GET", "/api/hosts", nil)); w.Code != 204 {
		t.Fatalf("auth disabled: %d", w.Code)
	}
}

func TestGuard_Source(t *testing.T) {
	pfx := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, x := range s {
			out = append(out, netip.MustParsePrefix(x))
		}
		return out
	}
	g := &Guard{AuthDisabled: true, Allowed: pfx("10.1.0.0/16"), TrustedProxies: pfx("192.168.0.10/32")}
	cases := []struct {
		name   string
		remote string
		xff    []string
		want   int
	}{
		{"inside", "10.1.2.3:5000", nil, 204},
		{"outside", "10.2.0.1:5000", nil, 403},
		{"mapped v4", "[::ffff:10.1.2.3]:5000", nil, 204},
		{"xff ignored from untrusted peer", "10.2.0.1:5000", []string{"10.1.2.3"}, 403},
		{"xff from trusted proxy", "192.168.0.10:5000", []string{"10.1.9.9"}, 204},
		{"xff outside from trusted proxy", "192.168.0.10:5000", []string{"8.8.8.8"}, 403},
		{"forged left entry", "192.168.0.10:5000", []string{"10.1.2.3, 8.8.8.8"}, 403},
		{"proxy chain", "192.168.0.10:5000", []string{"8.8.8.8, 10.1.2.3", "192.168.0.10"}, 204},
		{"garbled hop", "192.168.0.10:5000", []string{"10.1.2.3, not-an-ip"}, 403},
		{"proxy itself outside", "192.168.0.10:5000", nil, 403},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/api/hosts", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if w, _, _ := serve(t, guarded(g), r); w.Code != c.want {
			t.Errorf("%s: got %d, want %d", c.name, w.Code, c.want)
		}
	}
	hook := &Guard{AuthDisabled: true, Allowed: pfx("10.1.0.0/16"),
		SourceAddr: func(*http.Request) (netip.Addr, bool) { return netip.MustParseAddr("10.1.0.7"), true }}
	r := httptest.NewRequest("GET", "/api/hosts", nil)
	r.RemoteAddr = "8.8.8.8:1"
	if w, _, _ := serve(t, guarded(hook), r); w.Code != 204 {
		t.Errorf("SourceAddr hook not used: %d", w.Code)
	}
}
