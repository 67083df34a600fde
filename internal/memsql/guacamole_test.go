package memsql_test

import (
	"context"
	"database/sql"
	"reflect"
	"testing"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/guacamole"
	"github.com/ops-worker/ops-worker/internal/guacamole/guacdemo"
	"github.com/ops-worker/ops-worker/internal/memsql"
)

// The embedded engine serves `make run`'s Guacamole demo: the tables in a
// second database of the engine, read by the same query as on MariaDB.
func TestGuacamole_Embedded(t *testing.T) {
	ctx := context.Background()
	srv, err := memsql.Start(ctx, "ops_guac", "guacamole_demo")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	db, err := sql.Open("mysql", srv.Config().FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := []domain.GuacConnection{
		{ID: 1, Name: "RDP lab-ws-01", Protocol: "rdp", Hostname: "lab-ws-01", Port: "3389"},
		{ID: 2, Name: "bench", Protocol: "vnc", Hostname: "bench-pc-07"},
		{ID: 3, Name: "none", Protocol: "ssh"},
	}
	if err := guacdemo.CreateTables(ctx, db, "guacamole_demo"); err != nil {
		t.Fatal(err)
	}
	if err := guacdemo.Add(ctx, db, "guacamole_demo", want...); err != nil {
		t.Fatal(err)
	}
	cfg := srv.Config()
	cfg.DBName = "guacamole_demo"
	d, err := guacamole.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.Connections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Connections =\n%+v\nwant\n%+v", got, want)
	}
}
