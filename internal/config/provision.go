package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
)

// provisionOwnFields are the catalog fields a provisioned host takes from
// its request and its discovery, never from OPS_PROVISION_DEFAULTS: who the
// host is, and its secrets (which live in the credential store).
var provisionOwnFields = []string{"name", "address", "mac", "labs", "credential_ref", "winrm_user", "winrm_pass"}

// checkProvisionDefaults refuses an OPS_PROVISION_DEFAULTS that is not one
// JSON object of catalog fields a lab shares (the catalog's own checks run
// on every provisioned entry, and app checks the defaults against them at
// start).
func (c *Config) checkProvisionDefaults() error {
	_, err := c.ProvisionDefaults()
	return err
}

// ProvisionDefaults is OPS_PROVISION_DEFAULTS: hosts.json fields that every
// host provisioned from the page starts from, e.g. the lab subnet's
// {"broadcast": "10.1.2.255", "winrm_ca_file": "/etc/ops-worker/ca.pem"};
// the request's own fields win. Empty: none.
func (c Config) ProvisionDefaults() (map[string]json.RawMessage, error) {
	raw := bytes.TrimSpace([]byte(c.ProvisionDefaultsJSON))
	if len(raw) == 0 {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("OPS_PROVISION_DEFAULTS: want one JSON object of hosts.json fields, e.g. {\"broadcast\": \"10.1.2.255\"}")
	}
	var own []string
	for k := range m {
		if slices.Contains(provisionOwnFields, k) {
			own = append(own, k)
		}
	}
	if len(own) > 0 {
		sort.Strings(own)
		return nil, fmt.Errorf("OPS_PROVISION_DEFAULTS: %q cannot be a default (each host's own, or a secret for the credential store)", own)
	}
	return m, nil
}
