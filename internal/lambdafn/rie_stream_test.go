package lambdafn_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// streamEvent is a function URL request for GET /api/heartbeat/stream.
func streamEvent(query string, token bool) events.LambdaFunctionURLRequest {
	ev := events.LambdaFunctionURLRequest{
		Version: "2.0", RawPath: "/api/heartbeat/stream", RawQueryString: query,
		Headers: map[string]string{"x-request-id": "rie-stream-1"},
		RequestContext: events.LambdaFunctionURLRequestContext{
			RequestID: "url-req-1", DomainName: "abc.lambda-url.local",
			HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "GET", Path: "/api/heartbeat/stream", SourceIP: "127.0.0.1"},
		},
	}
	if token {
		ev.Headers["x-lab-manager-token"] = testToken
	}
	return ev
}

// streamed is what the emulator answered a streaming invocation: the
// prelude (status and headers, JSON), the body, and when its first and
// last bytes came.
type streamed struct {
	prelude struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
	}
	body              string
	firstByte, ending time.Duration
}

// invokeStream posts ev and reads the answer as it comes: a function URL
// response stream is application/vnd.awslambda.http-integration-response,
// a JSON prelude, eight NUL bytes, then the body.
func (e *emulated) invokeStream(t *testing.T, ev events.LambdaFunctionURLRequest) streamed {
	t.Helper()
	raw, _ := json.Marshal(ev)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.url, bytes.NewReader(raw))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke %s: %v\n%s", e.name, err, e.logs)
	}
	defer resp.Body.Close()
	var s streamed
	br := bufio.NewReader(resp.Body)
	if _, err := br.Peek(1); err != nil {
		t.Fatalf("invoke %s: empty answer: %v\n%s", e.name, err, e.logs)
	}
	s.firstByte = time.Since(start)
	all, _ := io.ReadAll(br)
	s.ending = time.Since(start)
	prelude, body, ok := bytes.Cut(all, make([]byte, 8))
	if !ok {
		t.Fatalf("answer without the prelude separator: %q", all)
	}
	if err := json.Unmarshal(prelude, &s.prelude); err != nil {
		t.Fatalf("prelude %q: %v", prelude, err)
	}
	s.body = string(body)
	return s
}

// The streaming function under the emulator: the stream ends by itself
// OPS_HEARTBEAT_STREAM_END_MARGIN before the function's timeout, with
// heartbeat events and keep-alive framing; refusals come before it in
// the error contract. What the emulator does with a streamed answer is
// logged (it hands the whole stream over only when the invocation ends).
func TestRIE_HeartbeatStream(t *testing.T) {
	w := newWorld(t, map[string]string{
		"OPS_HEARTBEAT_SSE_INTERVAL_SECONDS": "1",
		"OPS_HEARTBEAT_STREAM_END_MARGIN":    "10",
		// The emulator's invocation deadline (seconds); the stream should
		// end 10 s before it, 3 s in.
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "13",
	})
	e := startRIE(t, "heartbeat-stream", w.env)

	s := e.invokeStream(t, streamEvent("host=lab-ws-01&include_events=false", true))
	if s.prelude.StatusCode != 200 || s.prelude.Headers["Content-Type"] != "text/event-stream" ||
		s.prelude.Headers["Cache-Control"] != "no-cache" || s.prelude.Headers["X-Accel-Buffering"] != "no" {
		t.Fatalf("prelude %+v", s.prelude)
	}
	if s.ending < 2500*time.Millisecond || s.ending > 12*time.Second {
		t.Fatalf("stream ended after %v, want about 3 s (timeout 13 s - margin 10 s), before the function's timeout", s.ending)
	}
	if !strings.HasPrefix(s.body, "retry: 3000\n\n") {
		t.Fatalf("body starts %q", s.body[:min(len(s.body), 80)])
	}
	n := 0
	for line := range strings.Lines(s.body) {
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		n++
		var d map[string]any
		if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d); err != nil || d["host"] != "lab-ws-01" || d["heartbeat"] == nil {
			t.Fatalf("event data %q: %v", line, err)
		}
	}
	if n < 2 || strings.Count(s.body, "event: heartbeat\n") != n {
		t.Fatalf("%d heartbeat events in a 3 s stream at 1 s:\n%s", n, s.body)
	}
	t.Logf("emulator: first byte after %v, end after %v (%d events): it buffers the stream until the invocation ends", s.firstByte.Round(time.Millisecond), s.ending.Round(time.Millisecond), n)

	for _, tc := range []struct {
		query  string
		token  bool
		status int
		code   string
	}{
		{"", true, 400, "BAD_REQUEST"},
		{"host=nope", true, 404, "HOST_NOT_FOUND"},
		{"host=lab-ws-01", false, 401, "UNAUTHORIZED"},
	} {
		r := e.invokeStream(t, streamEvent(tc.query, tc.token))
		var body map[string]any
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.prelude.StatusCode != tc.status || body["code"] != tc.code || body["requestId"] != "rie-stream-1" {
			t.Errorf("%q token %v: %d %s, want %d %s", tc.query, tc.token, r.prelude.StatusCode, r.body, tc.status, tc.code)
		}
	}
}
