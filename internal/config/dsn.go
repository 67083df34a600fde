package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Timeouts every connection gets unless the DSN sets its own.
const (
	dsnConnectTimeout = 5 * time.Second
	dsnReadTimeout    = 30 * time.Second
	dsnWriteTimeout   = 30 * time.Second
)

// ParseDSN accepts the go-sql-driver form (user:pass@tcp(host:3306)/db) and
// the URL forms mysql://, mysql+pymysql:// (what deployments of the older
// Python worker have in MYSQL_DSN), and returns a driver config with
// parseTime, UTC and connect/read/write timeouts always set. Errors never
// contain the password.
func ParseDSN(dsn string) (*mysql.Config, error) {
	dsn = strings.TrimSpace(dsn)
	if dsn == "" {
		return nil, errors.New("empty DSN")
	}
	var (
		cfg *mysql.Config
		err error
	)
	if scheme, _, ok := strings.Cut(dsn, "://"); ok && !strings.Contains(scheme, "@") && !strings.Contains(scheme, "(") {
		cfg, err = parseURLDSN(scheme, dsn)
	} else {
		cfg, err = mysql.ParseDSN(dsn)
		if err != nil {
			err = fmt.Errorf("not a valid DSN (want user:pass@tcp(host:3306)/db or mysql://user:pass@host:3306/db): %s", redactDriverError(err))
		}
	}
	if err != nil {
		return nil, err
	}
	if cfg.DBName == "" {
		return nil, errors.New("DSN names no database")
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Timeout == 0 {
		cfg.Timeout = dsnConnectTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = dsnReadTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = dsnWriteTimeout
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// Store times as UTC whatever the server's default zone is.
	cfg.Params["time_zone"] = "'+00:00'"
	return cfg, nil
}

// redactDriverError gives the driver's reason in fixed words. The driver's
// own messages quote values (the database name, a parameter), and where
// the password ends is exactly what a malformed DSN leaves unclear (it may
// hold '@' or '/', and the driver quotes and unescapes what it echoes), so
// no part of the DSN is ever passed on: its fixed "invalid DSN: ..."
// sentences are kept, the others are named by kind only.
func redactDriverError(err error) string {
	msg := err.Error()
	for _, fixed := range []string{
		"invalid DSN: did you forget to escape a param value?",
		"invalid DSN: network address not terminated (missing closing brace)",
		"invalid DSN: missing the slash separating the database name",
		"invalid DSN: interpolateParams can not be used with unsafe collations",
	} {
		if msg == fixed {
			return msg
		}
	}
	switch {
	case strings.HasPrefix(msg, "invalid bool value"):
		return "invalid bool value of a parameter"
	case strings.HasPrefix(msg, "invalid dbname"):
		return "invalid database name (percent-escape it)"
	case strings.HasPrefix(msg, "default addr for network"):
		return "unknown network (want tcp or unix)"
	case strings.Contains(msg, "unknown config name") || strings.Contains(msg, "TLS config"):
		return "unknown tls value"
	case strings.Contains(msg, "duration"):
		return "invalid duration of a timeout parameter"
	}
	return "a parameter or value was not understood"
}

func parseURLDSN(scheme, dsn string) (*mysql.Config, error) {
	if !urlDSNScheme(scheme) {
		// The scheme is not echoed: "user:pass://..." would make it hold a
		// password.
		return nil, errors.New("unsupported DSN scheme (want mysql:// or mysql+pymysql://)")
	}
	// Every error of the URL form is fixed text: url.Parse's messages quote
	// pieces of the URL ("invalid port \":hunter2\" after host" for a
	// password holding '#', '/' or '?'), and which piece is the password is
	// exactly what a malformed URL leaves unclear.
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, errors.New("malformed DSN URL (want mysql://user:pass@host:3306/db; percent-encode '@', ':', '/', '?' and '#' in the password)")
	}
	if u.Host == "" {
		return nil, errors.New("DSN URL names no host")
	}
	cfg := mysql.NewConfig()
	cfg.Params = map[string]string{}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	if cfg.Addr, err = urlDSNAddr(u); err != nil {
		return nil, err
	}
	cfg.Net = "tcp"
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if strings.Contains(cfg.DBName, "/") {
		return nil, errors.New("DSN URL database name contains '/'")
	}
	if err := applyURLDSNOptions(cfg, u.Query()); err != nil {
		return nil, err
	}
	return cfg, nil
}

// urlDSNScheme reports whether scheme is one of the URL forms accepted.
func urlDSNScheme(scheme string) bool {
	switch strings.ToLower(scheme) {
	case "mysql", "mysql+pymysql", "mysql+mysqldb", "mysql+mysqlconnector", "mariadb", "mariadb+pymysql":
		return true
	}
	return false
}

// urlDSNAddr is the URL's host:port, 3306 when no port is given.
func urlDSNAddr(u *url.URL) (string, error) {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "3306"
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", errors.New("DSN URL port is not a number in 1..65535")
	}
	return net.JoinHostPort(host, port), nil
}

// applyURLDSNOptions maps the Python drivers' query options onto cfg; the
// last value of a repeated option wins.
func applyURLDSNOptions(cfg *mysql.Config, q url.Values) error {
	for k, vs := range q {
		if len(vs) == 0 {
			continue
		}
		v := vs[len(vs)-1]
		switch key := strings.ToLower(k); key {
		case "charset":
			// PyMySQL's charset=utf8mb4 maps onto the driver's charset.
			cfg.Params["charset"] = v
		case "ssl", "ssl_mode", "tls":
			cfg.TLSConfig = v
			if v == "REQUIRED" || v == "required" {
				cfg.TLSConfig = "true"
			}
		default:
			// Unknown Python-driver options are ignored rather than sent to
			// the server as session variables.
			dst := urlDSNTimeout(cfg, key)
			if dst == nil {
				continue
			}
			d, err := parseSeconds(v)
			if err != nil {
				return badDuration(k, err)
			}
			*dst = d
		}
	}
	return nil
}

// urlDSNTimeout is the cfg timeout a query option sets, nil for any other
// option.
func urlDSNTimeout(cfg *mysql.Config, key string) *time.Duration {
	switch key {
	case "connect_timeout", "timeout":
		return &cfg.Timeout
	case "read_timeout", "readtimeout":
		return &cfg.ReadTimeout
	case "write_timeout", "writetimeout":
		return &cfg.WriteTimeout
	}
	return nil
}

// badDuration names a timeout option whose value is not a duration. The
// key is named only when it is one of ours (known keys are fixed words);
// the value is never echoed.
func badDuration(key string, _ error) error {
	return fmt.Errorf("DSN URL option %s: not a number of seconds or a duration", strings.ToLower(key))
}

// parseSeconds reads PyMySQL's plain seconds or a Go duration.
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration", v)
	}
	return d, nil
}

// DSN renders the config as the go-sql-driver string.
func DSN(cfg *mysql.Config) string { return cfg.FormatDSN() }
