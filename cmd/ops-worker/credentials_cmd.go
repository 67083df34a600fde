package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/credentials"
	"github.com/ops-worker/ops-worker/internal/store"
)

// resealCredentials is `ops-worker reseal-credentials`: every stored
// credential not under OPS_SECRETS_KEY is opened with its key (one of
// OPS_SECRETS_PREVIOUS_KEYS) and sealed under OPS_SECRETS_KEY. It is safe
// while workers serve (each row is swapped only if unchanged), and prints
// counts and key ids, never a key or a secret.
func resealCredentials(args []string, stdout, stderr io.Writer) int {
	return runTool("reseal-credentials", "MYSQL_DSN, OPS_SECRETS_KEY and OPS_SECRETS_PREVIOUS_KEYS", args, stderr,
		func(ctx context.Context) error { return runReseal(ctx, stdout) })
}

// runTool runs one of the database tool commands (they take no arguments,
// only variables, named in reads): until done or interrupted, the exit
// code 2 for arguments, 1 for a failure, each said on stderr.
func runTool(name, reads string, args []string, stderr io.Writer, run func(context.Context) error) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "ops-worker %s: takes no arguments (it reads %s)\n", name, reads)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintf(stderr, "ops-worker %s: %v\n", name, err)
		return 1
	}
	return 0
}

func runReseal(ctx context.Context, stdout io.Writer) error {
	cfg, err := config.Load(ctx)
	if err != nil {
		return err
	}
	if cfg.MySQLDSN == "" {
		// The embedded database lives in one process: nothing another
		// process could re-seal.
		return errors.New("MYSQL_DSN is not set: the embedded database lives inside a running worker, so there is nothing to re-seal from outside it")
	}
	ring, err := cfg.Keyring()
	if err != nil {
		return err
	}
	if ring == nil {
		return credentials.ErrNoKey
	}
	st, err := openToolStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(stdout, "re-sealing under key %s (also opening %v)\n", ring.CurrentID(), ring.IDs()[1:])
	rep, err := credentials.New(st, ring, credentials.Options{}).Reseal(ctx)
	fmt.Fprintf(stdout, "checked %d, resealed %d, skipped %d (rewritten meanwhile), failed %d\n", rep.Checked, rep.Resealed, rep.Skipped, rep.Failed)
	return err
}

// openToolStore opens MYSQL_DSN's database for a one-shot command
// (reseal-credentials, import-credentials) and applies the migrations, so
// the command works on a database no worker has started on yet.
func openToolStore(ctx context.Context, cfg config.Config) (*store.Store, error) {
	dsn, err := config.ParseDSN(cfg.MySQLDSN)
	if err != nil {
		return nil, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return st, nil
}
