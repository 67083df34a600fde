package api

import (
	"net/http"
	"testing"
)

// TestOptionsRoute: a handler restricted to one route (a Lambda function)
// serves it and answers every other route as an unknown path.
func TestOptionsRoute(t *testing.T) {
	hs := newHarness(t, func(o *Options) { o.Route = "hosts-list" })
	if rec := hs.do(t, "GET", "/api/hosts", ""); rec.Code != http.StatusOK {
		t.Errorf("own route: %d %s", rec.Code, rec.Body)
	}
	for _, rt := range Routes {
		if rt.Name == "hosts-list" {
			continue
		}
		rec := hs.do(t, rt.Method, rt.Path, "")
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s %s on the hosts-list handler: %d, want 404", rt.Method, rt.Path, rec.Code)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("New with an unknown Route did not panic")
		}
	}()
	New(Options{Service: &fakeService{}, Route: "no-such-route"})
}
