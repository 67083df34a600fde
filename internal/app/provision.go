package app

import (
	"encoding/json"
	"fmt"

	"github.com/ops-worker/ops-worker/internal/discovery"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// newProvisioning gives the use cases discovery's prober (the relay's with
// OPS_RELAY_URL, whose relay probes inside its own subnets), the credential
// store, and the provisioning settings; OPS_PROVISION_DEFAULTS is checked
// against the catalog's rules here, so a bad default stops the start rather
// than every provisioning.
func (a *App) newProvisioning(o Options) error {
	cfg := a.cfg
	dc := cfg.DiscoveryConfig()
	if o.DiscoveryResolver != nil {
		dc.Resolver = o.DiscoveryResolver
	}
	if err := dc.Validate(); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	if cfg.RelayURL != "" {
		a.service.Prober = a.router
	} else {
		a.service.Prober = &discovery.Prober{Config: dc}
	}
	if a.creds != nil {
		a.service.CredentialStore = a.creds
	}
	defaults, err := cfg.ProvisionDefaults()
	if err != nil {
		return err
	}
	a.service.Settings.Provision = ops.ProvisionSettings{HeartbeatPaths: cfg.DiscoveryHeartbeatPaths,
		WinRMPort: dc.WinRMPort, Defaults: defaults}
	probe := map[string]json.RawMessage{}
	for k, v := range defaults {
		probe[k] = v
	}
	probe["name"], probe["address"] = json.RawMessage(`"provision-defaults-check"`), json.RawMessage(`"192.0.2.1"`)
	if len(cfg.StationPrefixes()) > 0 {
		// Only the defaults are checked: an address inside the prefixes.
		probe["address"] = json.RawMessage(`"` + cfg.StationPrefixes()[0].Addr().String() + `"`)
	}
	entry, err := json.Marshal(probe)
	if err != nil {
		return fmt.Errorf("OPS_PROVISION_DEFAULTS: %w", err)
	}
	if _, err := hosts.CheckDatabaseEntry(entry, hosts.Options{StationPrefixes: cfg.StationPrefixes()}); err != nil {
		return fmt.Errorf("OPS_PROVISION_DEFAULTS: %w", err)
	}
	return nil
}
