package config_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/scheduler"
	"github.com/ops-worker/ops-worker/internal/winrm"
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
		{"catalog refresh", c.CatalogRefresh(), hosts.DefaultRefreshEvery},
		{"poll", c.PollEnable, false},
		{"poll interval", c.PollInterval(), 60 * time.Second},
		{"automation", c.ReservationAutomation, false},
		{"scan", c.ScanInterval(), 30 * time.Second},
		{"lead", c.StartLead(), 120 * time.Second},
		{"end delay", c.EndDelay(), 60 * time.Second},
		{"lookback", c.Lookback(), 21600 * time.Second},
		{"cooldown", c.RetryCooldown(), 60 * time.Second},
		{"batch", c.MaxBatch, 200},
		{"end power", c.ReservationEndPower, scheduler.DefaultEndPower},
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
		// Each literal default= is also the value of the package that owns
		// the concept, so the two cannot drift apart.
		{"op timeout home", c.WinRMOperationTimeout(), winrm.DefaultOperationTimeout},
		{"read timeout home", c.WinRMReadTimeout(), winrm.DefaultReadTimeout},
		{"command timeout home", c.WinRMCommandTimeout(), winrm.DefaultCommandTimeout},
		{"transports home", strings.Join(c.WinRMAllowedTransports, ","), strings.Join(winrm.Transports, ",")},
		{"commands home", strings.Join(c.AllowedCommands, ","), labstation.DefaultAllowedCommands},
		{"stale after home", c.HeartbeatStaleAfter(), lab.DefaultStaleAfter},
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
		{map[string]string{"OPS_WINRM_MAX_IDLE_CONNS": "-2"}, "OPS_WINRM_MAX_IDLE_CONNS"},
		{map[string]string{"OPS_WINRM_MAX_IDLE_CONNS": "many"}, "OPS_WINRM_MAX_IDLE_CONNS"},
		{map[string]string{"OPS_WINRM_COMMAND_TIMEOUT": "0"}, "OPS_WINRM_COMMAND_TIMEOUT"},
		{map[string]string{"OPS_WINRM_COMMAND_TIMEOUT": "5m"}, "OPS_WINRM_COMMAND_TIMEOUT"},
		{map[string]string{"OPS_WINRM_OPERATION_TIMEOUT": "60", "OPS_WINRM_READ_TIMEOUT": "70", "OPS_WINRM_COMMAND_TIMEOUT": "45"}, "OPS_WINRM_COMMAND_TIMEOUT"},
		{map[string]string{"OPS_TIMELINE_DEFAULT_LIMIT": "900"}, "OPS_TIMELINE_DEFAULT_LIMIT"},
		{map[string]string{"OPS_ALLOWED_COMMANDS": " , "}, "OPS_ALLOWED_COMMANDS"},
		// Set but empty is not unset: the contract's default does not apply.
		{map[string]string{"OPS_ALLOWED_COMMANDS": ""}, "OPS_ALLOWED_COMMANDS"},
		{map[string]string{"MYSQL_DSN": "postgres://u:hunter2@h/db"}, "MYSQL_DSN"},
		{map[string]string{"OPS_RELAY_URL": "https://relay:8443"}, "OPS_RELAY_SECRET"},
		{map[string]string{"OPS_WINRM_ALLOWED_TRANSPORTS": ","}, "OPS_WINRM_ALLOWED_TRANSPORTS"},
		{map[string]string{"OPS_WINRM_ALLOWED_TRANSPORTS": " , ,"}, "OPS_WINRM_ALLOWED_TRANSPORTS"},
		{map[string]string{"OPS_RESERVATION_MAX_BATCH": "1001"}, "OPS_RESERVATION_MAX_BATCH"},
		{map[string]string{"OPS_RESERVATION_MAX_BATCH": "16384"}, "OPS_RESERVATION_MAX_BATCH"},
		{map[string]string{"OPS_RESERVATION_END_POWER": "reboot"}, "OPS_RESERVATION_END_POWER"},
		{map[string]string{"OPS_TIMELINE_MAX_OPS": "100000"}, "OPS_TIMELINE_MAX_OPS"},
		{map[string]string{"OPS_TIMELINE_PHASE_LOOKBACK": "100000"}, "OPS_TIMELINE_PHASE_LOOKBACK"},
		{map[string]string{"OPS_STATION_CIDRS": "10.1.2.0/24,lab.example"}, "OPS_STATION_CIDRS"},
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

func TestLoad_Limits(t *testing.T) {
	c, err := config.LoadMap(context.Background(), map[string]string{
		"OPS_RESERVATION_MAX_BATCH": "1000",
		"OPS_STATION_CIDRS":         " 10.1.2.0/24 , 10.9.9.9 ,",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxBatch != 1000 {
		t.Errorf("MaxBatch = %d", c.MaxBatch)
	}
	if p := c.StationPrefixes(); len(p) != 2 || p[0].String() != "10.1.2.0/24" || p[1].String() != "10.9.9.9/32" {
		t.Errorf("StationPrefixes = %v", p)
	}
	if d, _ := config.LoadMap(context.Background(), nil); len(d.StationPrefixes()) != 0 {
		t.Errorf("unset OPS_STATION_CIDRS gives %v, want none", d.StationPrefixes())
	}
}

// A Config printed, logged or marshalled in any common way holds none of
// its three secrets.
func TestConfig_NoSecretInOutput(t *testing.T) {
	const dsnPass, token, relay = "dsnPa55w0rd", "t0kenS3cret", "r3laySecr3t"
	c, err := config.LoadMap(context.Background(), map[string]string{
		"MYSQL_DSN":         "mysql://ops:" + dsnPass + "@db/labs",
		"LAB_MANAGER_TOKEN": token,
		"OPS_RELAY_URL":     "https://relay:8443",
		"OPS_RELAY_SECRET":  relay,
	})
	if err != nil {
		t.Fatal(err)
	}
	outs := secretOutputs(t, c)
	for name, out := range outs {
		for _, secret := range []string{dsnPass, token, relay} {
			if strings.Contains(out, secret) {
				t.Errorf("%s holds a secret: %s", name, out)
			}
		}
	}
	// The redacted views still show the settings, and mark a set secret.
	if !strings.Contains(outs["%#v"], `RelayURL:"https://relay:8443"`) || !strings.Contains(outs["%#v"], "[REDACTED]") ||
		!strings.Contains(outs["%#v"], "config.Config{") {
		t.Errorf("%%#v lost the settings: %s", outs["%#v"])
	}
	// The check itself fails on a leak: the raw field is a secret.
	if !strings.Contains(fmt.Sprintf("%v", c.MySQLDSN), dsnPass) {
		t.Fatal("test is broken: the secret is not where it was put")
	}
}

// secretOutputs renders v every way it could reach a log or a response.
func secretOutputs(t *testing.T, v any) map[string]string {
	t.Helper()
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("m", "v", v)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "v", v)
	return map[string]string{
		"%v": fmt.Sprintf("%v", v), "%+v": fmt.Sprintf("%+v", v), "%#v": fmt.Sprintf("%#v", v),
		"%s": fmt.Sprintf("%s", v), "json": string(j),
		"slog text": text.String(), "slog json": js.String(),
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

// leaks reports any piece of secret, three bytes or longer, found in msg:
// the whole secret and every fragment between URL delimiters (which is what
// a parser that split the DSN in the wrong place would echo).
func leaks(msg, secret string) []string {
	var out []string
	parts := append([]string{secret}, strings.FieldsFunc(secret, func(r rune) bool { return strings.ContainsRune("#/?@:[]%&=()", r) })...)
	for _, p := range parts {
		if optionWords[p] {
			continue // a fixed word of our own messages, not the secret
		}
		if len(p) >= 3 && strings.Contains(msg, p) {
			out = append(out, p)
		}
	}
	return out
}

// optionWords are the URL options ParseDSN names in its errors.
var optionWords = map[string]bool{"timeout": true, "connect_timeout": true, "read_timeout": true, "write_timeout": true}

func TestLeaks_CanFail(t *testing.T) {
	// The check must see a fragment, not only the whole password.
	if got := leaks(`invalid port ":hunter2" after host`, "hunter2#x"); len(got) == 0 {
		t.Fatal("leaks missed a fragment of the password")
	}
}

// Hostile URL DSNs: passwords with the delimiters that make url.Parse split
// the URL in the wrong place, and whose fragments its messages would echo.
func TestParseDSN_URLErrorsHoldNoSecret(t *testing.T) {
	tests := []struct{ dsn, secret string }{
		{"mysql://ops:hunter2#x@db/labs", "hunter2#x"},
		{"mysql://ops:hunter2/x@db/labs", "hunter2/x"},
		{"mysql://ops:hunter2?x@db/labs", "hunter2?x"},
		{"mysql://ops:" + strings.Repeat("9", 40) + "@db:" + strings.Repeat("7", 30) + "/labs", strings.Repeat("9", 40)},
		{"mysql://ops:12345678901234567890#frag@db/labs", "12345678901234567890#frag"},
		{"mysql://ops:s3cr3t[x]@db/labs", "s3cr3t[x]"},
		{"mysql://ops:zz%zzpass@db/labs", "zz%zzpass"},
		{"mysql://ops:pa ss word@db/labs", "pa ss word"},
		{"mysql://ops:12?timeout=tops3cret@db/labs", "12?timeout=tops3cret"},
		{"mysql://ops:1?read_timeout=tops3cret&x=/y@db/labs", "1?read_timeout=tops3cret&x=/y"},
		{"ops:pass://word@db/labs", "pass://word"},
		{"mysql://ops:3306/s3cretdb/x@db/labs", "3306/s3cretdb/x"},
	}
	for _, tt := range tests {
		_, err := config.ParseDSN(tt.dsn)
		if err == nil {
			t.Errorf("ParseDSN(%q): no error", tt.dsn)
			continue
		}
		if got := leaks(err.Error(), tt.secret); len(got) > 0 {
			t.Errorf("ParseDSN(%q) error %q holds %q", tt.dsn, err, got)
		}
		// And through Load, which adds the variable's name.
		_, err = config.LoadMap(context.Background(), map[string]string{"MYSQL_DSN": tt.dsn})
		if err == nil || !strings.Contains(err.Error(), "MYSQL_DSN") {
			t.Errorf("LoadMap: %v, want an error naming MYSQL_DSN", err)
		} else if got := leaks(err.Error(), tt.secret); len(got) > 0 {
			t.Errorf("LoadMap error %q holds %q", err, got)
		}
	}
}

// The go-sql-driver form keeps the driver's reason with the password masked.
func TestParseDSN_DriverErrorsHoldNoSecret(t *testing.T) {
	tests := []struct {
		dsn, secret string
		reason      string // part of the driver's reason that must survive, "" for any
	}{
		{"ops:hunter2@tcp(db:3306", "hunter2", "missing the slash"},
		{"ops:hunter2@tcp(db:3306/gw", "hunter2", "not terminated"},
		{"ops:hunter2@tcp(db:3306)", "hunter2", "missing the slash"},
		{"ops:hunter2@tcp(db:3306)/gw?parseTime=hunter2", "hunter2", "invalid bool value"},
		{"ops:p@ss@tcp(db:3306)/gw?parseTime=p@ss", "p@ss", ""},
		{"ops:long-secret-value@tcp(db:3306)/gw?tls=long-secret-value-x", "long-secret-value", ""},
		{"ops:a(b)c-secret@tcp(db:3306)/gw?allowOldPasswords=a(b)c-secret", "a(b)c-secret", ""},
		// Found by FuzzParseDSN_NoSecret: the driver takes the text after
		// the last '/' as the database name and quotes it, escaped.
		{`ops:/%Qz7S3CR3Tx"@0`, `Qz7S3CR3Tx`, "database name"},
		{"ops:x/s3cr3tpw%zz@tcp(db)/", "s3cr3tpw", ""},
	}
	for _, tt := range tests {
		_, err := config.ParseDSN(tt.dsn)
		if err == nil {
			// Some of these are valid for the driver (tls names are checked
			// later); only an error can leak.
			continue
		}
		if got := leaks(err.Error(), tt.secret); len(got) > 0 {
			t.Errorf("ParseDSN(%q) error %q holds %q", tt.dsn, err, got)
		}
		if tt.reason != "" && !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("ParseDSN(%q) error %q lost the driver's reason %q", tt.dsn, err, tt.reason)
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

// FuzzParseDSN_NoSecret: whatever surrounds a password, in the URL or the
// driver form, an error never shows the marked part of it.
func FuzzParseDSN_NoSecret(f *testing.F) {
	f.Add("", "", "db/labs", false)
	f.Add("#", "/x", "db:99999/labs", false)
	f.Add("?timeout=", "&", "db/labs", false)
	f.Add("", "", "tcp(db:3306", true)
	f.Add("@", "", "tcp(db:3306)/gw?parseTime=", true)
	const mark = "Qz7S3CR3Tx"
	f.Fuzz(func(t *testing.T, before, after, rest string, driver bool) {
		dsn := "mysql://ops:" + before + mark + after + "@" + rest
		if driver {
			dsn = "ops:" + before + mark + after + "@" + rest
		}
		_, err := config.ParseDSN(dsn)
		if err != nil && strings.Contains(err.Error(), mark) {
			t.Fatalf("ParseDSN(%q) error %q shows the password", dsn, err)
		}
	})
}

// OPS_RELAY_URL is logged at start-up and shown: user info in it is
// refused, without echoing it (issue 15).
func TestLoad_RelayURLUserinfo(t *testing.T) {
	for _, u := range []string{"https://svc:hunter2@relay:8443", "https://svc@relay:8443", "https://svc:hun#ter2@relay"} {
		_, err := config.LoadMap(context.Background(), map[string]string{"OPS_RELAY_URL": u, "OPS_RELAY_SECRET": "0123456789abcdef0123456789abcdef"})
		if err == nil {
			t.Errorf("OPS_RELAY_URL %q accepted", u)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "OPS_RELAY_URL") || !strings.Contains(msg, "user name or password") {
			t.Errorf("OPS_RELAY_URL %q: error %q does not name the variable and the reason", u, msg)
		}
		for _, secret := range []string{"hunter2", "hun", "svc"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("OPS_RELAY_URL %q: error %q echoes %q", u, err, secret)
			}
		}
	}
	if _, err := config.LoadMap(context.Background(), map[string]string{"OPS_RELAY_URL": "https://relay:8443", "OPS_RELAY_SECRET": "0123456789abcdef0123456789abcdef"}); err != nil {
		t.Errorf("plain relay URL refused: %v", err)
	}
}

func TestLoad_CatalogRefresh(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{{"1", time.Second}, {"300", 300 * time.Second}, {"0", 0}, {"301", 0}, {"-5", 0}} {
		c, err := config.LoadMap(context.Background(), map[string]string{"OPS_CATALOG_REFRESH_SECONDS": tc.v})
		if tc.want == 0 {
			if err == nil || !strings.Contains(err.Error(), "OPS_CATALOG_REFRESH_SECONDS") {
				t.Errorf("%s: err = %v, want one naming OPS_CATALOG_REFRESH_SECONDS", tc.v, err)
			}
			continue
		}
		if err != nil || c.CatalogRefresh() != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.v, c.CatalogRefresh(), err, tc.want)
		}
	}
}
