package config_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/config"
)

func TestGuacamoleDB(t *testing.T) {
	const pw = "gu@c/Pw:7x"
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string // addr/db user, "" for none
	}{
		{"none", nil, ""},
		{"dsn", map[string]string{"GUACAMOLE_MYSQL_DSN": "mysql://guac:p@gdb:3307/guacamole_db"}, "gdb:3307/guacamole_db guac"},
		{"dsn wins", map[string]string{"GUACAMOLE_MYSQL_DSN": "guac:p@tcp(gdb)/g1", "OPS_GUACAMOLE_MYSQL_USER": "u", "OPS_GUACAMOLE_MYSQL_PASSWORD": pw, "GUACAMOLE_MYSQL_DATABASE": "g2"}, "gdb:3306/g1 guac"},
		{"parts, defaults", map[string]string{"OPS_GUACAMOLE_MYSQL_USER": "guac_ro", "OPS_GUACAMOLE_MYSQL_PASSWORD": pw, "MYSQL_DATABASE": "guacamole_db"}, "mysql:3306/guacamole_db guac_ro"},
		{"parts", map[string]string{"OPS_GUACAMOLE_MYSQL_USER": "guac_ro", "OPS_GUACAMOLE_MYSQL_PASSWORD": pw, "GUACAMOLE_MYSQL_DATABASE": "g", "MYSQL_DATABASE": "other",
			"MYSQL_HOSTNAME": "h1", "MYSQL_PORT": "3310"}, "h1:3310/g guac_ro"},
		{"parts, MYSQL_HOST", map[string]string{"OPS_GUACAMOLE_MYSQL_USER": "guac_ro", "OPS_GUACAMOLE_MYSQL_PASSWORD": pw, "GUACAMOLE_MYSQL_DATABASE": "g", "MYSQL_HOST": "h2"}, "h2:3306/g guac_ro"},
		{"no password: not configured", map[string]string{"OPS_GUACAMOLE_MYSQL_USER": "guac_ro", "GUACAMOLE_MYSQL_DATABASE": "g"}, ""},
		{"worker's server", map[string]string{"MYSQL_DSN": "ops:p@tcp(db:3306)/gateway", "GUACAMOLE_MYSQL_DATABASE": "guacamole_db"}, "db:3306/guacamole_db ops"},
		{"worker's DSN alone", map[string]string{"MYSQL_DSN": "ops:p@tcp(db:3306)/gateway"}, ""},
	} {
		c, err := config.LoadMap(context.Background(), tt.env)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		cfg, err := c.GuacamoleDB()
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		got := ""
		if cfg != nil {
			got = cfg.Addr + "/" + cfg.DBName + " " + cfg.User
			if !cfg.ParseTime || cfg.Timeout <= 0 || cfg.ReadTimeout <= 0 {
				t.Errorf("%s: defaults not applied: %+v", tt.name, cfg)
			}
			if tt.env["OPS_GUACAMOLE_MYSQL_PASSWORD"] != "" && tt.env["GUACAMOLE_MYSQL_DSN"] == "" && cfg.Passwd != pw {
				t.Errorf("%s: password not passed on as given", tt.name)
			}
		}
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// A bad Guacamole configuration stops start-up naming the variable, and
// no view of the configuration shows its secrets.
func TestGuacamoleDB_InvalidAndNoSecret(t *testing.T) {
	const pw = "Guac-S3cret-pw"
	for env, want := range map[string]string{
		"mysql://guac:" + pw + "@gdb": "GUACAMOLE_MYSQL_DSN: DSN names no database",
		"guac:" + pw + "@tcp(gdb":     "GUACAMOLE_MYSQL_DSN: not a valid DSN",
	} {
		_, err := config.LoadMap(context.Background(), map[string]string{"GUACAMOLE_MYSQL_DSN": env})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), pw) {
			t.Errorf("GUACAMOLE_MYSQL_DSN=%q: error %v, want %q without the password", env, err, want)
		}
	}
	_, err := config.LoadMap(context.Background(), map[string]string{"OPS_GUACAMOLE_MYSQL_USER": "u", "OPS_GUACAMOLE_MYSQL_PASSWORD": pw, "GUACAMOLE_MYSQL_DATABASE": "g", "MYSQL_PORT": "70000"})
	if err == nil || !strings.Contains(err.Error(), `MYSQL_PORT: "70000" is not a TCP port`) {
		t.Errorf("MYSQL_PORT=70000: %v", err)
	}
	c, err := config.LoadMap(context.Background(), map[string]string{
		"GUACAMOLE_MYSQL_DSN": "mysql://guac:" + pw + "-dsn@gdb/g", "OPS_GUACAMOLE_MYSQL_PASSWORD": pw,
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range secretOutputs(t, c) {
		if strings.Contains(out, pw) {
			t.Errorf("%s holds the Guacamole password: %s", name, out)
		}
	}
}
