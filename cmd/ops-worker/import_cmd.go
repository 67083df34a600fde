package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/credentials"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/legacyimport"
	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/powerops"
	"github.com/ops-worker/ops-worker/internal/secrets"
)

// importCredentials is `ops-worker import-credentials`: the older worker's
// Fernet-encrypted credential files (OPS_CREDENTIALS_PATH,
// OPS_POWER_CREDENTIALS_PATH, read with its OPS_SECRETS_KEY), its dynamic
// hosts file (OPS_DYNAMIC_CONFIG) and its power catalog (OPS_POWER_CONFIG)
// into the database: credentials sealed in the credential store, hosts in
// the database catalog, power controllers and lab policies in the power
// catalog. Every file is read and checked first, so a bad one stores
// nothing; a second run stores nothing new. It prints references, host
// names and ids, never a secret.
func importCredentials(args []string, stdout, stderr io.Writer) int {
	return runTool("import-credentials", "MYSQL_DSN, OPS_SECRETS_KEY, OPS_CREDENTIALS_PATH, OPS_POWER_CREDENTIALS_PATH, OPS_DYNAMIC_CONFIG and OPS_POWER_CONFIG",
		args, stderr, func(ctx context.Context) error { return runImport(ctx, environ(), stdout) })
}

// environ is the process environment as a map.
func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

func runImport(ctx context.Context, env map[string]string, stdout io.Writer) error {
	src, err := legacyimport.SourcesFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	if src.WinRMPath == "" && src.PowerPath == "" && src.DynamicHostsPath == "" && src.PowerCatalogPath == "" {
		return errors.New("nothing to import: set OPS_CREDENTIALS_PATH, OPS_POWER_CREDENTIALS_PATH, OPS_DYNAMIC_CONFIG or OPS_POWER_CONFIG to the older worker's files")
	}
	cfg, err := config.LoadMap(ctx, env)
	if err != nil {
		return err
	}
	if cfg.MySQLDSN == "" {
		return errors.New("MYSQL_DSN is not set: the credentials, hosts and power catalog are imported into that database (the embedded one lives inside a running worker)")
	}
	ring, err := cfg.Keyring()
	if err != nil {
		return err
	}
	if ring == nil && (src.WinRMPath != "" || src.PowerPath != "") {
		return credentials.ErrNoKey
	}
	st, err := openToolStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	reg, warns, err := hosts.NewRegistryWith(ctx, cfg.HostsPath, hosts.Options{StationPrefixes: cfg.StationPrefixes(),
		Dynamic: app.CatalogStore(st), RefreshEvery: cfg.CatalogRefresh()})
	for _, w := range warns {
		fmt.Fprintln(stdout, "host catalog warning:", w)
	}
	if err != nil {
		return err
	}
	creds := credentials.New(st, ring, credentials.Options{})
	// The power use cases as the app builds them over the same store
	// (app.newPower); no drivers nor credentials: adding controllers and
	// policies drives no device and reads no secret.
	catalog := powerops.New(powerops.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	rep, err := legacyimport.Import(ctx, src, credentialSink{creds}, hostSink{reg}, powerCatalogSink{catalog}, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported: %d winrm credentials (%d new), %d power credentials (%d new), %d hosts added (%d already present), "+
		"%d power controllers added (%d already present), %d power policies added (%d already present)\n",
		rep.Count(legacyimport.KindWinRM, legacyimport.ResultStored)+rep.Count(legacyimport.KindWinRM, legacyimport.ResultUpdated),
		rep.Count(legacyimport.KindWinRM, legacyimport.ResultStored),
		rep.Count(legacyimport.KindPower, legacyimport.ResultStored)+rep.Count(legacyimport.KindPower, legacyimport.ResultUpdated),
		rep.Count(legacyimport.KindPower, legacyimport.ResultStored),
		rep.Count(legacyimport.KindHost, legacyimport.ResultAdded), rep.Count(legacyimport.KindHost, legacyimport.ResultExists),
		rep.Count(legacyimport.KindController, legacyimport.ResultAdded), rep.Count(legacyimport.KindController, legacyimport.ResultExists),
		rep.Count(legacyimport.KindPolicy, legacyimport.ResultAdded), rep.Count(legacyimport.KindPolicy, legacyimport.ResultExists))
	return nil
}

// credentialSink is the credential store as the importer writes to it.
type credentialSink struct{ s *credentials.Service }

func (c credentialSink) SaveWinRM(ctx context.Context, ref, user string, password secrets.Secret, actor string) (string, error) {
	_, _, found, err := c.s.WinRM(ctx, ref)
	if err != nil && !errors.Is(err, credentials.ErrNotFound) {
		found = true // a row is there, under a key this run cannot open: it is replaced
	}
	if _, err := c.s.SaveWinRM(ctx, ref, user, password, actor); err != nil {
		return "", err
	}
	if found {
		return legacyimport.ResultUpdated, nil
	}
	return legacyimport.ResultStored, nil
}

func (c credentialSink) SavePower(ctx context.Context, ref, typ string, creds map[string]any, overwrite bool, actor string) (any, bool, error) {
	return c.s.SavePower(ctx, ref, typ, creds, overwrite, actor)
}

// hostSink is the database catalog as the importer adds to it.
type hostSink struct{ r *hosts.Registry }

func (h hostSink) Add(ctx context.Context, entry json.RawMessage, actor string) (string, error) {
	host, err := h.r.Add(ctx, entry, actor)
	return host.Name, err
}

func (h hostSink) Has(ctx context.Context, name string) bool {
	_, ok := h.r.Current(ctx).Get(name)
	return ok
}

// powerCatalogSink is the power catalog as the importer adds to it: through
// the power use cases, which validate every controller and policy as the
// routes do.
type powerCatalogSink struct{ s *powerops.Service }

func (p powerCatalogSink) Controller(ctx context.Context, id string) (power.Controller, bool, error) {
	return p.s.CatalogController(ctx, id)
}

func (p powerCatalogSink) CreateController(ctx context.Context, body json.RawMessage, actor string) error {
	_, err := p.s.CreateController(ctx, body, actor)
	return err
}

// HasPolicy compares lab ids ignoring case, as the table's key does (a
// policy put under another case would replace the lab's).
func (p powerCatalogSink) HasPolicy(ctx context.Context, labID string) (bool, error) {
	res, err := p.s.Policies(ctx)
	if err != nil {
		return false, err
	}
	for _, q := range res.Policies {
		if strings.EqualFold(q.LabID, labID) {
			return true, nil
		}
	}
	return false, nil
}

func (p powerCatalogSink) PutPolicy(ctx context.Context, labID string, body json.RawMessage, actor string) error {
	_, err := p.s.PutPolicy(ctx, labID, body, actor)
	return err
}
