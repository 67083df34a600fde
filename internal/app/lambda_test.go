package app_test

import (
	"net/http"
	"testing"

	"github.com/ops-worker/ops-worker/internal/app"
)

// TestNew_SkipMigrations: a Lambda HTTP function opens the database but
// leaves the schema to the deploy's migrate function.
func TestNew_SkipMigrations(t *testing.T) {
	a, _ := mustNew(t, mustConfig(t, nil), app.Options{EmbeddedDB: embedded, SkipMigrations: true})
	if a.Store() == nil {
		t.Fatal("no store")
	}
	var n int
	if err := a.Store().DB.QueryRow(`SELECT COUNT(*) FROM reservation_operations`).Scan(&n); err == nil {
		t.Error("the schema exists although SkipMigrations was set")
	}
}

// TestNew_Route: the handler of a function serves its own route only.
func TestNew_Route(t *testing.T) {
	a, _ := mustNew(t, mustConfig(t, map[string]string{"LAB_MANAGER_TOKEN": "t0ken"}), app.Options{Route: "hosts-list"})
	tok := http.Header{"X-Lab-Manager-Token": {"t0ken"}}
	if w, _ := get(t, a.Handler(), "/api/hosts", tok); w.Code != http.StatusOK {
		t.Errorf("own route: %d", w.Code)
	}
	if w, _ := get(t, a.Handler(), "/health", nil); w.Code != http.StatusNotFound {
		t.Errorf("/health on the hosts-list handler: %d, want 404", w.Code)
	}
}
