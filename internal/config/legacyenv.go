package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// The current (Python) worker's environment keeps working (GATEWAY.md
// section 4, issue 16): an operator who swaps the worker keeps the
// gateway's .env. Its spellings are read here as aliases of ours.

// Variables of the current worker's database settings. Without MYSQL_DSN,
// the DSN is built from these when the user or the host is given.
const (
	envMySQLHostname = "MYSQL_HOSTNAME"
	envMySQLHost     = "MYSQL_HOST"
	envMySQLPort     = "MYSQL_PORT"
	envBackendUser   = "OPS_BACKEND_MYSQL_USER"
	envBackendPass   = "OPS_BACKEND_MYSQL_PASSWORD"
	envOpsDatabase   = "OPS_MYSQL_DATABASE"
	envChainDatabase = "BLOCKCHAIN_MYSQL_DATABASE"
)

// DefaultMySQLHost is the host of a DSN built from the parts when neither
// MYSQL_HOSTNAME nor MYSQL_HOST is set: the gateway's compose service.
const DefaultMySQLHost = "mysql"

// DefaultMySQLPort is MYSQL_PORT's default.
const DefaultMySQLPort = "3306"

// listAliases are the current worker's names of our list settings: ours,
// then theirs.
var listAliases = [][2]string{
	{"OPS_STATION_CIDRS", "WINRM_MANAGEMENT_CIDRS"},
	{"OPS_WINRM_ALLOWED_TRANSPORTS", "WINRM_ALLOWED_TRANSPORTS"},
}

// BuildDSN is the DSN of a MySQL database given by parts, as the current
// worker's variables give it: host ("" is DefaultMySQLHost), port (""
// is 3306), user, password and database. It is a mysql:// URL with every
// part escaped, so any password survives ParseDSN unchanged. The result
// holds the password: treat it as a secret.
func BuildDSN(host, port, user, password, database string) string {
	host = strings.TrimSpace(host)
	if host == "" {
		host = DefaultMySQLHost
	}
	port = strings.TrimSpace(port)
	if port == "" {
		port = DefaultMySQLPort
	}
	u := url.URL{Scheme: "mysql", Host: net.JoinHostPort(host, port), Path: "/" + database}
	if user != "" || password != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// MySQLServer is the database server the current worker's variables
// name: MYSQL_HOSTNAME, else MYSQL_HOST, else DefaultMySQLHost; MYSQL_PORT,
// else 3306 (both checked by LoadFrom). Another database on the same
// server (Guacamole's): host, port := c.MySQLServer(), then
// BuildDSN(host, port, user, password, database).
func (c Config) MySQLServer() (host, port string) {
	host, port = strings.TrimSpace(c.MySQLHostname), strings.TrimSpace(c.MySQLPort)
	if host == "" {
		host = strings.TrimSpace(c.MySQLHostAlias)
	}
	if host == "" {
		host = DefaultMySQLHost
	}
	if port == "" {
		port = DefaultMySQLPort
	}
	return host, port
}

// legacyEnv answers our variables from the current worker's spellings
// when ours are not set: MYSQL_DSN built from its parts, and the list
// aliases. checkLegacyEnv has refused what it cannot answer unambiguously
// before envconfig reads through it.
type legacyEnv struct{ l envconfig.Lookuper }

func (e legacyEnv) Lookup(key string) (string, bool) {
	v, set := e.l.Lookup(key)
	if key == "MYSQL_DSN" && strings.TrimSpace(v) == "" {
		// Empty is unset here, as in the current worker: its compose file
		// may pass MYSQL_DSN through empty beside the parts.
		if dsn, ok, err := builtDSN(e.l); ok && err == nil {
			return dsn, true
		}
	}
	if set {
		return v, true
	}
	for _, a := range listAliases {
		if a[0] == key {
			if v := lookupNonEmpty(e.l, a[1]); v != "" {
				return v, true
			}
		}
	}
	return "", false
}

// lookupNonEmpty is a variable's value; unset and empty are alike, as in
// the current worker (os.getenv(x) or default).
func lookupNonEmpty(l envconfig.Lookuper, key string) string {
	v, _ := l.Lookup(key)
	return strings.TrimSpace(v)
}

// checkLegacyEnv refuses the current worker's settings that would be read
// ambiguously: two spellings of one setting that disagree, and database
// parts that cannot make a DSN. No message holds a password.
func checkLegacyEnv(l envconfig.Lookuper) error {
	for _, a := range listAliases {
		ours, set := l.Lookup(a[0])
		theirs := lookupNonEmpty(l, a[1])
		if !set || theirs == "" {
			continue
		}
		if !sameList(ours, theirs) {
			return fmt.Errorf("%s and %s are both set and disagree (%q, %q): they are one setting; set one of them", a[0], a[1], ours, theirs)
		}
	}
	// The server parts also name Guacamole's database server: check them
	// whether or not they build MYSQL_DSN.
	if _, _, err := mysqlHost(l); err != nil {
		return err
	}
	if _, err := mysqlPort(l); err != nil {
		return err
	}
	if v, _ := l.Lookup("MYSQL_DSN"); strings.TrimSpace(v) != "" {
		// MYSQL_DSN wins over the parts, as in the current worker (whose
		// .env sets the parts for every service of the gateway).
		return nil
	}
	_, _, err := builtDSN(l)
	return err
}

// builtDSN is the DSN of the current worker's parts; ok is false when
// OPS_BACKEND_MYSQL_USER is not set (make run, with no variables, keeps
// its embedded database; MYSQL_HOSTNAME alone may name only Guacamole's
// server).
func builtDSN(l envconfig.Lookuper) (dsn string, ok bool, err error) {
	host, hostSet, err := mysqlHost(l)
	if err != nil {
		return "", false, err
	}
	user := lookupNonEmpty(l, envBackendUser)
	if user == "" {
		if hostSet && lookupNonEmpty(l, envOpsDatabase) != "" {
			return "", false, fmt.Errorf("MYSQL_DSN is not set and %s/%s with %s name the worker's database, but %s is not set", envMySQLHostname, envMySQLHost, envOpsDatabase, envBackendUser)
		}
		return "", false, nil
	}
	port, err := mysqlPort(l)
	if err != nil {
		return "", false, err
	}
	db := lookupNonEmpty(l, envOpsDatabase)
	if db == "" {
		db = lookupNonEmpty(l, envChainDatabase)
	}
	if db == "" {
		return "", false, fmt.Errorf("MYSQL_DSN is not set and the database is given by parts (%s, %s or %s), but no database is named: set %s (or %s)",
			envBackendUser, envMySQLHostname, envMySQLHost, envOpsDatabase, envChainDatabase)
	}
	pass, _ := l.Lookup(envBackendPass) // a password is taken verbatim
	return BuildDSN(host, port, user, pass, db), true, nil
}

// mysqlHost is MYSQL_HOSTNAME, else MYSQL_HOST (""), refusing the two set
// to different hosts: they are two spellings of one setting.
func mysqlHost(l envconfig.Lookuper) (host string, set bool, _ error) {
	a, b := lookupNonEmpty(l, envMySQLHostname), lookupNonEmpty(l, envMySQLHost)
	if a != "" && b != "" && !strings.EqualFold(a, b) {
		return "", false, fmt.Errorf("%s and %s are both set and disagree (%q, %q): they are one setting; set one of them", envMySQLHostname, envMySQLHost, a, b)
	}
	if a == "" {
		a = b
	}
	return a, a != "", nil
}

// mysqlPort is MYSQL_PORT, 3306 when unset.
func mysqlPort(l envconfig.Lookuper) (string, error) {
	p := lookupNonEmpty(l, envMySQLPort)
	if p == "" {
		return DefaultMySQLPort, nil
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%s: %q is not a TCP port", envMySQLPort, p)
	}
	return p, nil
}

// sameList compares two comma-separated lists as sets, after trimming,
// dropping empty items, lower-casing and reading addresses as prefixes
// (10.0.0.1 is 10.0.0.1/32).
func sameList(a, b string) bool {
	norm := func(s string) []string {
		var out []string
		for _, item := range strings.Split(s, ",") {
			item = strings.ToLower(strings.TrimSpace(item))
			if item == "" {
				continue
			}
			if p, err := parsePrefixes("", []string{item}); err == nil {
				item = p[0].String()
			}
			out = append(out, item)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}
