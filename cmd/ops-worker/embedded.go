//go:build !noembeddeddb

package main

import (
	"context"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/memsql"
)

// embeddedDB starts the in-memory database used when MYSQL_DSN is unset,
// with an empty database beside it for the demo's Guacamole tables.
// Built with -tags noembeddeddb (the container image: `make image`), the
// binary leaves go-mysql-server out (66 MB -> 11 MB) and runs without a
// database when MYSQL_DSN is unset (embedded_none.go).
var embeddedDB = func(ctx context.Context) (app.EmbeddedDB, error) {
	return memsql.Start(ctx, embeddedDBName, demoGuacamoleDB)
}
