package relayclient_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/relayclient"
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
