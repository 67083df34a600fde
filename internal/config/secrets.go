package config

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/secrets"
)

// MaxCredentialCacheSec bounds OPS_CREDENTIAL_CACHE_SECONDS: a credential
// saved on one instance must take effect on the others within seconds,
// not at the next cold start (issue 17).
const MaxCredentialCacheSec = 300

// validateSecrets checks the credential store's key settings: exactly one
// of OPS_SECRETS_KEY and OPS_SECRETS_KEY_FILE, the previous keys, the
// cache bound. Reading and parsing the keys here makes a bad key a
// start-up error; the errors name the variable, never the key.
func (c *Config) validateSecrets() error {
	if c.CredentialCacheSec < 0 || c.CredentialCacheSec > MaxCredentialCacheSec {
		return fmt.Errorf("OPS_CREDENTIAL_CACHE_SECONDS: must be 0 (no cache) to %d, got %d", MaxCredentialCacheSec, c.CredentialCacheSec)
	}
	_, err := c.Keyring()
	return err
}

// CredentialCacheTTL is OPS_CREDENTIAL_CACHE_SECONDS: how long a stored
// credential read is reused by this process (0: every use reads the
// database).
func (c Config) CredentialCacheTTL() time.Duration { return sec(c.CredentialCacheSec) }

// Keyring builds the credential store's keyring from OPS_SECRETS_KEY (or
// OPS_SECRETS_KEY_FILE) and OPS_SECRETS_PREVIOUS_KEYS (or
// OPS_SECRETS_PREVIOUS_KEYS_FILE). It answers nil, nil when no key is set:
// the store then refuses writes and the rest of the worker runs.
func (c Config) Keyring() (*secrets.Keyring, error) {
	if c.SecretsKey != "" && c.SecretsKeyFile != "" {
		return nil, fmt.Errorf("OPS_SECRETS_KEY and OPS_SECRETS_KEY_FILE are both set: set one")
	}
	if c.SecretsPreviousKeys != "" && c.SecretsPreviousKeysFile != "" {
		return nil, fmt.Errorf("OPS_SECRETS_PREVIOUS_KEYS and OPS_SECRETS_PREVIOUS_KEYS_FILE are both set: set one")
	}
	curText, curName := c.SecretsKey, "OPS_SECRETS_KEY"
	if c.SecretsKeyFile != "" {
		b, err := readKeyFile("OPS_SECRETS_KEY_FILE", c.SecretsKeyFile)
		if err != nil {
			return nil, err
		}
		curText, curName = string(b), "OPS_SECRETS_KEY_FILE"
	}
	var prevTexts []string
	prevName := "OPS_SECRETS_PREVIOUS_KEYS"
	if c.SecretsPreviousKeys != "" {
		prevTexts = strings.Split(c.SecretsPreviousKeys, ",")
	}
	if c.SecretsPreviousKeysFile != "" {
		b, err := readKeyFile("OPS_SECRETS_PREVIOUS_KEYS_FILE", c.SecretsPreviousKeysFile)
		if err != nil {
			return nil, err
		}
		prevTexts, prevName = strings.Split(string(b), "\n"), "OPS_SECRETS_PREVIOUS_KEYS_FILE"
	}
	if strings.TrimSpace(curText) == "" {
		if c.SecretsKeyFile != "" {
			return nil, fmt.Errorf("OPS_SECRETS_KEY_FILE: %s is empty", c.SecretsKeyFile)
		}
		if len(cleanList(prevTexts, false)) > 0 {
			return nil, fmt.Errorf("%s: set without OPS_SECRETS_KEY (or OPS_SECRETS_KEY_FILE), the key new rows are sealed under", prevName)
		}
		return nil, nil
	}
	cur, err := secrets.ParseKey(curText)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", curName, err)
	}
	var prev [][]byte
	for i, t := range cleanList(prevTexts, false) {
		k, err := secrets.ParseKey(t)
		if err != nil {
			return nil, fmt.Errorf("%s: key %d: %w", prevName, i+1, err)
		}
		prev = append(prev, k)
	}
	ring, err := secrets.NewKeyring(cur, prev...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", curName, err)
	}
	return ring, nil
}

// readKeyFile reads a key file; its error names the variable and the path,
// and never the content.
func readKeyFile(name, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}
