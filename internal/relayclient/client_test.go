package relayclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/relayclient"
	"github.com/ops-worker/ops-worker/internal/relayproto"
)

func TestCheckURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://relay.lab.example:8740": true,
		"https://10.1.2.5":               true,
		"http://127.0.0.1:8740":          true,
		"http://[::1]:8740":              true,
		"http://localhost:8740":          true,
		"http://10.1.2.5:8740":           false,
		"http://relay.lab.example":       false,
		"ftp://relay":                    false,
		"https://":                       false,
		"relay:8740":                     false,
	} {
		if err := relayclient.CheckURL(u); (err == nil) != ok {
			t.Errorf("%s: %v, want ok %v", u, err, ok)
		}
	}
}

// A client that cannot sign, or may not send, refuses before any
// connection: ErrConfig, never "unreachable".
func TestClient_Misconfigured(t *testing.T) {
	for _, c := range []*relayclient.Client{
		{URL: "https://relay.example"},
		{URL: "http://192.0.2.1:8740", Secret: []byte("s")},
	} {
		_, err := c.RunCommand(context.Background(), hosts.Host{Name: "a"}, "status", nil, lab.CommandOptions{})
		if !errors.Is(err, lab.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", c.URL, err)
		}
	}
}

// A relay that predates v2 signatures calls one malformed: the worker's
// error says which side to update.
func TestClient_OldRelaySaysUpdate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(relayproto.HeaderRelay) != "127.0.0.1" || !strings.HasPrefix(r.Header.Get(relayproto.HeaderSignature), "v2=") {
			t.Errorf("headers %v: want a v2 signature for 127.0.0.1", r.Header)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"signature refused: malformed signature headers: signature","kind":"signature"}`))
	}))
	defer srv.Close()
	c := &relayclient.Client{URL: srv.URL, Secret: []byte(strings.Repeat("s", 40))}
	err := c.Ping(context.Background())
	if !errors.Is(err, lab.ErrConfig) || !strings.Contains(err.Error(), "update ops-relay") {
		t.Errorf("old relay: %v, want ErrConfig saying to update ops-relay", err)
	}
}
