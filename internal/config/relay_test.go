package config_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/config"
)

var (
	secretA  = strings.Repeat("a", 40)
	secretB  = strings.Repeat("b", 40)
	fallback = strings.Repeat("f", 40)
)

// Issue 15 item 4: OPS_RELAY_SECRETS gives each relay its own secret;
// OPS_RELAY_SECRET signs for the relays it does not name.
func TestRelaySecretFor(t *testing.T) {
	c, err := config.LoadMap(context.Background(), map[string]string{
		"OPS_RELAY_SECRETS": `{"https://Relay-A.lab.example:8740/": "` + secretA + `", "https://relay-b.lab.example:443": "` + secretB + `"}`,
		"OPS_RELAY_SECRET":  fallback,
	})
	if err != nil {
		t.Fatal(err)
	}
	for u, want := range map[string]string{
		"https://relay-a.lab.example:8740":  secretA,
		"HTTPS://relay-a.LAB.example:8740/": secretA,
		"https://relay-b.lab.example":       secretB,
		"https://relay-b.lab.example:443/":  secretB,
		"https://relay-a.lab.example:8741":  fallback, // another port: another relay
		"https://relay-c.lab.example":       fallback,
		"http://relay-a.lab.example:8740":   fallback,
	} {
		if got := c.RelaySecretFor(u); got != want {
			t.Errorf("%s: secret %.1s..., want %.1s...", u, got, want)
		}
	}
	// No fallback: a relay not named has no secret (the client refuses).
	c, err = config.LoadMap(context.Background(), map[string]string{
		"OPS_RELAY_URL":     "https://relay-a.lab.example:8740",
		"OPS_RELAY_SECRETS": `{"https://relay-a.lab.example:8740": "` + secretA + `"}`,
	})
	if err != nil {
		t.Fatalf("OPS_RELAY_URL with its OPS_RELAY_SECRETS entry only: %v", err)
	}
	if c.RelaySecretFor("https://relay-a.lab.example:8740") != secretA || c.RelaySecretFor("https://relay-b") != "" {
		t.Errorf("without OPS_RELAY_SECRET: %q", c.RelaySecretFor("https://relay-b"))
	}
	// Unset: OPS_RELAY_SECRET for every relay, as before.
	c, err = config.LoadMap(context.Background(), map[string]string{"OPS_RELAY_SECRET": fallback})
	if err != nil || c.RelaySecretFor("https://relay-a.lab.example:8740") != fallback {
		t.Errorf("OPS_RELAY_SECRET alone: %v", err)
	}
}

func TestRelaySecrets_Refused(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"not JSON":     {map[string]string{"OPS_RELAY_SECRETS": "https://relay-a=" + secretA}, "JSON object"},
		"not strings":  {map[string]string{"OPS_RELAY_SECRETS": `{"https://relay-a": 1}`}, "JSON object"},
		"short secret": {map[string]string{"OPS_RELAY_SECRETS": `{"https://relay-a": "short"}`}, "shorter than 32"},
		"user info":    {map[string]string{"OPS_RELAY_SECRETS": `{"https://u:p@relay-a": "` + secretA + `"}`}, "user info"},
		"query":        {map[string]string{"OPS_RELAY_SECRETS": `{"https://relay-a/?x=1": "` + secretA + `"}`}, "query"},
		"not a URL":    {map[string]string{"OPS_RELAY_SECRETS": `{"relay-a:8740": "` + secretA + `"}`}, "not a relay URL"},
		"twice":        {map[string]string{"OPS_RELAY_SECRETS": `{"https://relay-a": "` + secretA + `", "https://RELAY-A:443/": "` + secretB + `"}`}, "twice"},
		"URL without its secret": {map[string]string{"OPS_RELAY_URL": "https://relay-c",
			"OPS_RELAY_SECRETS": `{"https://relay-a": "` + secretA + `"}`}, "OPS_RELAY_URL needs OPS_RELAY_SECRET"},
	} {
		_, err := config.LoadMap(context.Background(), tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "OPS_RELAY_") {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), secretA) || strings.Contains(err.Error(), secretB)) {
			t.Errorf("%s: the error holds a secret: %v", name, err)
		}
	}
}

// OPS_RELAY_SECRETS is a secret like OPS_RELAY_SECRET: masked in every
// printed, logged or marshalled form.
func TestRelaySecrets_NotInOutput(t *testing.T) {
	c, err := config.LoadMap(context.Background(), map[string]string{
		"OPS_RELAY_SECRETS": `{"https://relay-a.lab.example": "` + secretA + `"}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range secretOutputs(t, c) {
		if strings.Contains(out, secretA) {
			t.Errorf("%s holds the secret: %s", name, out)
		}
	}
	if !strings.Contains(c.RelaySecrets, secretA) {
		t.Fatal("test is broken: the secret is not where it was put")
	}
}
