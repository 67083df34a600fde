//go:build noembeddeddb

package main

import (
	"context"

	"github.com/ops-worker/ops-worker/internal/app"
)

// embeddedDB is nil under -tags noembeddeddb: with MYSQL_DSN unset the
// worker runs without a database (db_kind "none"), as a Lambda function
// does. See embedded.go.
var embeddedDB func(ctx context.Context) (app.EmbeddedDB, error)
