package config_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/config"
)

func TestLoad_Defaults(t *testing.T) {
	c, err := config.LoadMap(context.Background(), map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"bind", c.Bind, "0.0.0.0"},
		{"port", c.Port, 8081},
		{"hosts", c.HostsPath, "hosts.json"},
		{"poll", c.PollEnable, false},
		{"poll interval", c.PollInterval(), 60 * time.Second},
		{"automation", c.ReservationAutomation, false},
		{"scan", c.ScanInterval(), 30 * time.Second},
		{"lead", c.StartLead(), 120 * time.Second},
		{"end delay", c.EndDelay(), 60 * time.Second},
		{"lookback", c.Lookback(), 21600 * time.Second},
		{"cooldown", c.RetryCooldown(), 60 * time.Second},
		{"batch", c.MaxBatch, 200},
		{"op timeout", c.WinRMOperationTimeout(), 20 * time.Second},
		{"read timeout", c.WinRMReadTimeout(), 30 * time.Second},
		{"command timeout", c.WinRMCommandTimeout(), 300 * time.Second},
		{"commands", strings.Join(c.AllowedCommands, ","), "prepare-session,release-session,power,session,energy,status-json,recovery,account,service,wol,status"},
		{"timeline", [3]int{c.TimelineDefaultLimit, c.TimelineMaxOps, c.TimelinePhaseLookback}, [3]int{100, 500, 500}},
		{"log", c.LogLevel, "INFO"},
		{"token", c.LabManagerToken, ""},
		{"transports", strings.Join(c.WinRMAllowedTransports, ","), "ntlm,kerberos,basic"},
		{"override", c.AllowCredentialOverride, false},
		{"concurrency", c.PollConcurrency, 32},
		{"relay", c.RelayURL, ""},
		{"dsn", c.MySQLDSN, ""},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if !c.CommandAllowed("prepare-session") || c.CommandAllowed("format-disk") {
		t.Error("CommandAllowed does not follow the default list")
	}
}

func TestLoad_Invalid(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string // the variable the message must name
	}{
		{map[string]string{"OPS_POLL_INTERVAL": "soon"}, "OPS_POLL_INTERVAL"},
		{map[string]string{"OPS_POLL_INTERVAL": "0"}, "OPS_POLL_INTERVAL"},
		{map[string]string{"OPS_RESERVATION_START_LEAD": "-5"}, "OPS_RESERVATION_START_LEAD"},
		{map[string]string{"OPS_RESERVATION_END_DELAY": "-1"}, "OPS_RESERVATION_END_DELAY"},
		{map[string]string{"OPS_RESERVATION_RETRY_COOLDOWN": "0"}, "OPS_RESERVATION_RETRY_COOLDOWN"},
		{map[string]string{"OPS_LOG_LEVEL": "LOUD"}, "OPS_LOG_LEVEL"},
		{map[string]string{"OPS_PORT": "70000"}, "OPS_PORT"},
		{map[string]string{"OPS_POLL_ENABLED": "maybe"}, "OPS_POLL_ENABLED"},
		{map[string]string{"OPS_WINRM_ALLOWED_TRANSPORTS": "ntlm,credssp"}, "OPS_WINRM_ALLOWED_TRANSPORTS"},
		{map[string]string{"OPS_ALLOWED_CIDRS": "10.0.0.0/33"}, "OPS_ALLOWED_CIDRS"},
		{map[string]string{"OPS_TRUSTED_PROXIES": "proxy.example"}, "OPS_TRUSTED_PROXIES"},
		{map[string]string{"OPS_WINRM_READ_TIMEOUT": "10"}, "OPS_WINRM_READ_TIMEOUT"},
		{map[string]string{"OPS_WINRM_COMMAND_TIMEOUT": "20"}, "OPS_WINRM_COMMAND_TIMEOUT"},
		{map[string]string{"OPS_WINRM_COMMAND_TIMEOUT": "0"}, "OPS_WINRM_COMMAND_TIMEOUT"},
		{map[string]string{"OPS_WINRM_COMMAND_TIMEOUT": "5m"}, "OPS_WINRM_COMMAND_TIMEOUT"},
		{map[string]string{"OPS_WINRM_OPERATION_TIMEOUT": "60", "OPS_WINRM_READ_TIMEOUT": "70", "OPS_WINRM_COMMAND_TIMEOUT": "45"}, "OPS_WINRM_COMMAND_TIMEOUT"},
		{map[string]string{"OPS_TIMELINE_DEFAULT_LIMIT": "900"}, "OPS_TIMELINE_DEFAULT_LIMIT"},
		{map[string]string{"OPS_ALLOWED_COMMANDS": " , "}, "OPS_ALLOWED_COMMANDS"},
		{map[string]string{"MYSQL_DSN": "postgres://u:hunter2@h/db"}, "MYSQL_DSN"},
		{map[string]string{"OPS_RELAY_URL": "https://relay:8443"}, "OPS_RELAY_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := config.LoadMap(context.Background(), tt.env)
			if err == nil {
				t.Fatalf("LoadMap(%v): no error", tt.env)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}

func TestLoad_Lists(t *testing.T) {
	c, err := config.LoadMap(context.Background(), map[string]string{
		"OPS_ALLOWED_COMMANDS":         " status , power ",
		"OPS_WINRM_ALLOWED_TRANSPORTS": "NTLM",
		"OPS_ALLOWED_CIDRS":            "10.0.0.0/8, 192.168.1.7",
		"OPS_LOG_LEVEL":                "warning",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.AllowedCommands, "|"); got != "status|power" {
		t.Errorf("commands: got %q", got)
	}
	if !c.TransportAllowed("ntlm") || c.TransportAllowed("basic") {
		t.Errorf("transports: %v", c.WinRMAllowedTransports)
	}
	p := c.AllowedPrefixes()
	if len(p) != 2 || p[1].String() != "192.168.1.7/32" {
		t.Errorf("prefixes: %v", p)
	}
	if c.LogLevel != "WARNING" {
		t.Errorf("log level: %q", c.LogLevel)
	}
}

func TestParseDSN(t *testing.T) {
	tests := []struct {
		name, in         string
		user, pass, addr string
		db               string
		readTimeout      time.Duration
	}{
		{"driver form", "ops:s3cret@tcp(db.internal:3307)/gateway", "ops", "s3cret", "db.internal:3307", "gateway", 30 * time.Second},
		{"driver form with params", "ops:pw@tcp(127.0.0.1:3306)/gw?readTimeout=5s", "ops", "pw", "127.0.0.1:3306", "gw", 5 * time.Second},
		{"url", "mysql://ops:pw@db:3308/gw", "ops", "pw", "db:3308", "gw", 30 * time.Second},
		{"url default port", "mysql://ops:pw@db/gw", "ops", "pw", "db:3306", "gw", 30 * time.Second},
		{"pymysql", "mysql+pymysql://gateway:p%40ss%2Fw%3Ard@mysql:3306/blockchain_services?charset=utf8mb4", "gateway", "p@ss/w:rd", "mysql:3306", "blockchain_services", 30 * time.Second},
		{"url encoded user", "mysql://lab%20user:x@h/db?read_timeout=7", "lab user", "x", "h:3306", "db", 7 * time.Second},
		{"ipv6", "mysql://u:p@[::1]:3306/db", "u", "p", "[::1]:3306", "db", 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.ParseDSN(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got := [5]any{c.User, c.Passwd, c.Addr, c.DBName, c.ReadTimeout}
			want := [5]any{tt.user, tt.pass, tt.addr, tt.db, tt.readTimeout}
			if got != want {
				t.Errorf("got %v, want %v", got, want)
			}
			if !c.ParseTime || c.Loc != time.UTC || c.Timeout == 0 || c.WriteTimeout == 0 {
				t.Errorf("parseTime/UTC/timeouts not forced: %+v", c)
			}
		})
	}
}

func TestParseDSN_Malformed(t *testing.T) {
	const secret = "Sup3rS3cret"
	bad := []string{
		"",
		"mysql://ops:" + secret + "@/gw",
		"mysql://ops:" + secret + "@db:99999/gw",
		"mysql://ops:" + secret + "@db:3306/",
		"mysql://ops:" + secret + "@db:port/gw",
		"postgres://ops:" + secret + "@db/gw",
		"ops:" + secret + "@tcp(db:3306",
		"ops:" + secret + "@tcp(db:3306)",
		"mysql://ops:" + secret + "@db:3306/a/b",
		"mysql://ops:" + secret + "%zz@db/gw",
		"mysql://ops:" + secret + "@db/gw?connect_timeout=-3",
	}
	for _, in := range bad {
		_, err := config.ParseDSN(in)
		if err == nil {
			t.Errorf("ParseDSN(%q): no error", in)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("ParseDSN error leaks the password: %v", err)
		}
	}
}

func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{
		"ops:pw@tcp(db:3306)/gw", "mysql://u:p@h:3306/db", "mysql+pymysql://u:p%40@h/db?charset=utf8mb4",
		"mysql://u:p@[::1]:3306/db?read_timeout=3", "u@unix(/tmp/sock)/db",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		cfg, err := config.ParseDSN(dsn)
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		if !cfg.ParseTime || cfg.Loc != time.UTC || cfg.DBName == "" {
			t.Fatalf("accepted %q without the forced settings: %+v", dsn, cfg)
		}
	})
}
