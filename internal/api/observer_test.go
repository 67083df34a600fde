package api

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

type seenRequest struct {
	pattern string
	status  int
}

type recordingObserver struct {
	mu   sync.Mutex
	seen []seenRequest
}

func (o *recordingObserver) ObserveRequest(pattern string, status int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d < 0 {
		status = -1
	}
	o.seen = append(o.seen, seenRequest{pattern, status})
}

// Options.Observer sees the mux's pattern (never the raw path), the
// status, for routed, unrouted and guarded requests alike.
func TestObserver_RoutePatternAndStatus(t *testing.T) {
	obs := &recordingObserver{}
	metricsHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("m 1\n")) })
	hs := newHarness(t, func(o *Options) { o.Observer = obs; o.MetricsHandler = metricsHandler })
	hs.do(t, "GET", "/health", "")
	hs.do(t, "POST", "/api/wol", `{"host":"lab-ws-01"}`)
	hs.do(t, "POST", "/api/wol", `{"host":"lab-ws-01"}`, noEdit)
	hs.do(t, "GET", "/api/wol", "")
	hs.do(t, "GET", "/api/no/such/thing", "")
	hs.do(t, "GET", "/nowhere", "")
	want := []seenRequest{
		{"GET /health", 200},
		{"POST /api/wol", 200},
		{"POST /api/wol", 401},
		{"", 405},
		{"", 404},
		{"", 404},
	}
	// /metrics (not in the OpenAPI document: served directly) has its
	// own pattern.
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Header.Set("Authorization", "Bearer "+testToken)
	w := httptest.NewRecorder()
	hs.h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("GET /metrics with Bearer: %d %s", w.Code, w.Body)
	}
	want = append(want, seenRequest{"GET /metrics", 200})
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if !slices.Equal(obs.seen, want) {
		t.Errorf("observed %v\nwant     %v", obs.seen, want)
	}
}
