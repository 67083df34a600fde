package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/ops-worker/ops-worker/internal/relayproto"
	"github.com/ops-worker/ops-worker/internal/textcut"
)

// OPS_RELAY_SECRETS gives each relay its own secret, so that the box of
// one lab holds nothing that signs for another (issue 15 item 4). It is a
// JSON object from relay base URL to secret:
//
//	{"https://relay-a.lab.example:8740": "…", "https://relay-b:8740": "…"}
//
// URLs match after normalisation (scheme and host in lower case, default
// port and trailing slash dropped). A relay it does not name is signed for
// with OPS_RELAY_SECRET, so a deployment with one secret keeps working.
// Rotation is per relay, as before: the relay accepts new,old
// (RELAY_SECRETS) while the worker's entry moves to new.

// relaySecrets parses OPS_RELAY_SECRETS: normalised URL -> secret.
func (c Config) relaySecrets() (map[string]string, error) {
	if strings.TrimSpace(c.RelaySecrets) == "" {
		return nil, nil
	}
	var raw map[string]string
	if err := json.Unmarshal([]byte(c.RelaySecrets), &raw); err != nil {
		// json's message may quote the value: name the position only.
		return nil, fmt.Errorf("OPS_RELAY_SECRETS: not a JSON object of relay URL to secret")
	}
	out := make(map[string]string, len(raw))
	for u, secret := range raw {
		key, err := relayKey(u)
		if err != nil {
			return nil, fmt.Errorf("OPS_RELAY_SECRETS: %w", err)
		}
		if len(secret) < relayproto.MinSecretLen {
			return nil, fmt.Errorf("OPS_RELAY_SECRETS: the secret of %s is shorter than %d characters", key, relayproto.MinSecretLen)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("OPS_RELAY_SECRETS: %s is given twice", key)
		}
		out[key] = secret
	}
	return out, nil
}

// relayKey is a relay URL normalised for matching. User info, a query or
// a fragment are refused: a relay URL is scheme://host[:port][/path].
func relayKey(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not a relay URL (https://host[:port])", truncate(raw, 80))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("relay URL %s://%s: no user info, query or fragment", u.Scheme, u.Host)
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

func truncate(s string, n int) string { return textcut.Cut(s, n, "...") }

// RelaySecretFor is the secret that signs requests to the relay at
// relayURL: its OPS_RELAY_SECRETS entry, else OPS_RELAY_SECRET ("" when
// neither: the relay client then refuses to send, ErrConfig).
func (c Config) RelaySecretFor(relayURL string) string {
	m, err := c.relaySecrets()
	if err != nil || m == nil {
		return c.RelaySecret // a bad OPS_RELAY_SECRETS never loads (validateRelay)
	}
	if key, err := relayKey(relayURL); err == nil {
		if s, ok := m[key]; ok {
			return s
		}
	}
	return c.RelaySecret
}

// validateRelay checks OPS_RELAY_URL, OPS_RELAY_SECRET and
// OPS_RELAY_SECRETS together.
func (c Config) validateRelay() error {
	if _, err := c.relaySecrets(); err != nil {
		return err
	}
	// OPS_RELAY_SECRET alone is allowed: it signs for the hosts whose
	// catalog entry names a relay ("relay": URL) while the others are
	// reached directly (issue 10).
	if c.RelayURL != "" && c.RelaySecretFor(c.RelayURL) == "" {
		return fmt.Errorf("OPS_RELAY_URL and OPS_RELAY_SECRET: OPS_RELAY_URL needs OPS_RELAY_SECRET (or its entry in OPS_RELAY_SECRETS)")
	}
	return nil
}
