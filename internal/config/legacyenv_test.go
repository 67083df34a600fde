package config_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/config"
)

// The current worker's database parts build MYSQL_DSN (GATEWAY.md
// section 4), and make run's empty environment still gets none.
func TestLoad_LegacyDSN(t *testing.T) {
	cases := []struct {
		name                 string
		env                  map[string]string
		user, pass, addr, db string // want; addr "" wants no DSN
	}{
		{"nothing set", map[string]string{}, "", "", "", ""},
		{"password and database only", map[string]string{"OPS_BACKEND_MYSQL_PASSWORD": "x", "OPS_MYSQL_DATABASE": "ops"}, "", "", "", ""},
		{"gateway .env", map[string]string{
			"MYSQL_HOSTNAME": "mysql", "OPS_BACKEND_MYSQL_USER": "ops_backend", "OPS_BACKEND_MYSQL_PASSWORD": "pw",
			"BLOCKCHAIN_MYSQL_DATABASE": "blockchain_services", "MYSQL_DATABASE": "guacamole_db",
		}, "ops_backend", "pw", "mysql:3306", "blockchain_services"},
		{"user only: host mysql", map[string]string{"OPS_BACKEND_MYSQL_USER": "u", "OPS_MYSQL_DATABASE": "ops"}, "u", "", "mysql:3306", "ops"},
		{"MYSQL_HOST and port", map[string]string{"MYSQL_HOST": "db.lan", "MYSQL_PORT": "3307", "OPS_BACKEND_MYSQL_USER": "u", "OPS_MYSQL_DATABASE": "ops"}, "u", "", "db.lan:3307", "ops"},
		{"both host spellings agree", map[string]string{"MYSQL_HOST": "DB", "MYSQL_HOSTNAME": "db", "OPS_BACKEND_MYSQL_USER": "u", "OPS_MYSQL_DATABASE": "ops"}, "u", "", "db:3306", "ops"},
		{"OPS_MYSQL_DATABASE wins", map[string]string{"OPS_BACKEND_MYSQL_USER": "u", "OPS_MYSQL_DATABASE": "ops", "BLOCKCHAIN_MYSQL_DATABASE": "chain"}, "u", "", "mysql:3306", "ops"},
		{"hostile password", map[string]string{"OPS_BACKEND_MYSQL_USER": "u", "OPS_BACKEND_MYSQL_PASSWORD": "p@s:s/w?o#r%d&x=1 )(", "OPS_MYSQL_DATABASE": "ops"},
			"u", "p@s:s/w?o#r%d&x=1 )(", "mysql:3306", "ops"},
		{"empty MYSQL_DSN is unset", map[string]string{"MYSQL_DSN": " ", "OPS_BACKEND_MYSQL_USER": "u", "OPS_MYSQL_DATABASE": "ops"}, "u", "", "mysql:3306", "ops"},
		{"MYSQL_DSN wins", map[string]string{"MYSQL_DSN": "a:b@tcp(h:1)/d", "MYSQL_HOSTNAME": "mysql", "OPS_BACKEND_MYSQL_USER": "u"}, "a", "b", "h:1", "d"},
		{"IPv6 host", map[string]string{"MYSQL_HOSTNAME": "::1", "OPS_BACKEND_MYSQL_USER": "u", "OPS_MYSQL_DATABASE": "ops"}, "u", "", "[::1]:3306", "ops"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.LoadMap(context.Background(), tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if tc.addr == "" {
				if c.MySQLDSN != "" {
					t.Fatalf("MYSQL_DSN built from %v; want none (embedded database)", tc.env)
				}
				return
			}
			d, err := config.ParseDSN(c.MySQLDSN)
			if err != nil {
				t.Fatal(err)
			}
			if d.User != tc.user || d.Passwd != tc.pass || d.Addr != tc.addr || d.DBName != tc.db {
				t.Errorf("got user %q pass %q addr %q db %q; want %q %q %q %q", d.User, d.Passwd, d.Addr, d.DBName, tc.user, tc.pass, tc.addr, tc.db)
			}
		})
	}
}

func TestLoad_LegacyRefused(t *testing.T) {
	const pass = "S3cr3tPa55"
	cases := []struct {
		name  string
		env   map[string]string
		names []string // the message names each
	}{
		{"no database", map[string]string{"MYSQL_HOSTNAME": "mysql", "OPS_BACKEND_MYSQL_USER": "u"}, []string{"OPS_MYSQL_DATABASE", "BLOCKCHAIN_MYSQL_DATABASE"}},
		{"host but no user", map[string]string{"MYSQL_HOSTNAME": "mysql", "OPS_MYSQL_DATABASE": "ops"}, []string{"OPS_BACKEND_MYSQL_USER"}},
		{"bad port", map[string]string{"OPS_BACKEND_MYSQL_USER": "u", "OPS_MYSQL_DATABASE": "ops", "MYSQL_PORT": "33o6"}, []string{"MYSQL_PORT"}},
		{"hosts disagree", map[string]string{"MYSQL_HOSTNAME": "a", "MYSQL_HOST": "b", "OPS_BACKEND_MYSQL_USER": "u", "OPS_MYSQL_DATABASE": "ops"}, []string{"MYSQL_HOSTNAME", "MYSQL_HOST"}},
		{"station ranges disagree", map[string]string{"OPS_STATION_CIDRS": "10.0.0.0/24", "WINRM_MANAGEMENT_CIDRS": "10.0.1.0/24"}, []string{"OPS_STATION_CIDRS", "WINRM_MANAGEMENT_CIDRS"}},
		{"station ranges: ours empty", map[string]string{"OPS_STATION_CIDRS": "", "WINRM_MANAGEMENT_CIDRS": "10.0.1.0/24"}, []string{"OPS_STATION_CIDRS", "WINRM_MANAGEMENT_CIDRS"}},
		{"transports disagree", map[string]string{"OPS_WINRM_ALLOWED_TRANSPORTS": "ntlm", "WINRM_ALLOWED_TRANSPORTS": "ntlm,basic"}, []string{"OPS_WINRM_ALLOWED_TRANSPORTS", "WINRM_ALLOWED_TRANSPORTS"}},
		{"alias value still checked", map[string]string{"WINRM_ALLOWED_TRANSPORTS": "telnet"}, []string{"OPS_WINRM_ALLOWED_TRANSPORTS"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["OPS_BACKEND_MYSQL_PASSWORD"] = pass
			_, err := config.LoadMap(context.Background(), tc.env)
			if err == nil {
				t.Fatalf("LoadMap(%v) succeeded", tc.env)
			}
			for _, n := range tc.names {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error %q does not name %s", err, n)
				}
			}
			if strings.Contains(err.Error(), pass) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// The current worker's spellings of our lists, alone or agreeing with ours
// once normalised.
func TestLoad_LegacyListAliases(t *testing.T) {
	c, err := config.LoadMap(context.Background(), map[string]string{
		"WINRM_MANAGEMENT_CIDRS":   "10.7.74.0/24, 10.7.75.9",
		"WINRM_ALLOWED_TRANSPORTS": "NTLM, basic",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.StationCIDRs, ","); got != "10.7.74.0/24,10.7.75.9" {
		t.Errorf("StationCIDRs = %q", got)
	}
	if got := strings.Join(c.WinRMAllowedTransports, ","); got != "ntlm,basic" {
		t.Errorf("WinRMAllowedTransports = %q", got)
	}
	if _, err := config.LoadMap(context.Background(), map[string]string{
		"OPS_STATION_CIDRS": "10.7.75.9/32,10.7.74.0/24", "WINRM_MANAGEMENT_CIDRS": "10.7.74.0/24, 10.7.75.9,",
		"OPS_WINRM_ALLOWED_TRANSPORTS": "basic,ntlm", "WINRM_ALLOWED_TRANSPORTS": "NTLM, basic",
	}); err != nil {
		t.Errorf("agreeing spellings refused: %v", err)
	}
	// An empty legacy value is unset (the gateway's compose passes empty ones).
	c, err = config.LoadMap(context.Background(), map[string]string{"WINRM_MANAGEMENT_CIDRS": "", "WINRM_ALLOWED_TRANSPORTS": " "})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.StationCIDRs) != 0 || len(c.WinRMAllowedTransports) != 3 {
		t.Errorf("empty aliases read as %v / %v", c.StationCIDRs, c.WinRMAllowedTransports)
	}
}

func TestBuildDSN(t *testing.T) {
	dsn := config.BuildDSN("", "", "ops_guac", "g/u@a:c?#", "guacamole_db")
	d, err := config.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if d.Addr != "mysql:3306" || d.User != "ops_guac" || d.Passwd != "g/u@a:c?#" || d.DBName != "guacamole_db" {
		t.Errorf("BuildDSN round trip: %+v", d)
	}
	c, err := config.LoadMap(context.Background(), map[string]string{"MYSQL_HOST": "db.lan", "MYSQL_PORT": "3307", "OPS_BACKEND_MYSQL_USER": "u", "OPS_MYSQL_DATABASE": "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if h, p := c.MySQLServer(); h != "db.lan" || p != "3307" {
		t.Errorf("MySQLServer = %s %s", h, p)
	}
	c, _ = config.LoadMap(context.Background(), nil)
	if h, p := c.MySQLServer(); h != config.DefaultMySQLHost || p != "3306" {
		t.Errorf("MySQLServer default = %s %s", h, p)
	}
}

// FuzzLegacyEnv_NoSecret: whatever the other parts, no start-up error
// shows the backend password.
func FuzzLegacyEnv_NoSecret(f *testing.F) {
	f.Add("mysql", "", "u", "", "", "")
	f.Add("a", "b", "", "x", "", "")
	f.Add("", "", "u", "", "99999", "")
	f.Add("h", "", "u", "", "", "db/x")
	const mark = "Qz7S3CR3Tx"
	f.Fuzz(func(t *testing.T, hostname, host, user, db, port, before string) {
		env := map[string]string{"OPS_BACKEND_MYSQL_PASSWORD": before + mark}
		for k, v := range map[string]string{"MYSQL_HOSTNAME": hostname, "MYSQL_HOST": host, "OPS_BACKEND_MYSQL_USER": user,
			"OPS_MYSQL_DATABASE": db, "MYSQL_PORT": port} {
			if strings.Contains(v, mark) {
				return // the mark elsewhere is not the password showing
			}
			env[k] = v
		}
		if _, err := config.LoadMap(context.Background(), env); err != nil && strings.Contains(err.Error(), mark) {
			t.Fatalf("error %q shows the password", err)
		}
	})
}
