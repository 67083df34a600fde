package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
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
			err = fmt.Errorf("not a valid DSN (want user:pass@tcp(host:3306)/db or mysql://user:pass@host:3306/db): %s", redactDriverError(err, dsn))
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

// redactDriverError keeps the driver's reason but drops anything that could
// echo the password back. The driver takes the password as the text between
// the first ':' and the last '@' before the database slash; a password that
// itself holds '@' or '/' shifts that split, so every plausible password
// (up to the first and up to each later '@') is masked, and a message that
// still holds a fragment of one is replaced by fixed text.
func redactDriverError(err error, dsn string) string {
	msg := err.Error()
	var cands []string
	if c := strings.IndexByte(dsn, ':'); c >= 0 {
		for i := c + 1; i < len(dsn); i++ {
			if dsn[i] == '@' && i > c+1 {
				cands = append(cands, dsn[c+1:i])
			}
		}
	}
	// Longest first, so a shorter candidate cannot break a longer one up.
	sort.Slice(cands, func(i, j int) bool { return len(cands[i]) > len(cands[j]) })
	for _, p := range cands {
		msg = strings.ReplaceAll(msg, p, "***")
	}
	for _, p := range cands {
		for _, frag := range strings.FieldsFunc(p, func(r rune) bool { return strings.ContainsRune("@/?&=():", r) }) {
			if len(frag) >= 3 && strings.Contains(msg, frag) {
				return "the DSN could not be parsed"
			}
		}
	}
	return msg
}

func parseURLDSN(scheme, dsn string) (*mysql.Config, error) {
	switch strings.ToLower(scheme) {
	case "mysql", "mysql+pymysql", "mysql+mysqldb", "mysql+mysqlconnector", "mariadb", "mariadb+pymysql":
	default:
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
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "3306"
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, errors.New("DSN URL port is not a number in 1..65535")
	}
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(host, port)
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if strings.Contains(cfg.DBName, "/") {
		return nil, errors.New("DSN URL database name contains '/'")
	}
	q := u.Query()
	for k, vs := range q {
		if len(vs) == 0 {
			continue
		}
		v := vs[len(vs)-1]
		switch strings.ToLower(k) {
		case "charset":
			// PyMySQL's charset=utf8mb4 maps onto the driver's charset.
			cfg.Params["charset"] = v
		case "ssl", "ssl_mode", "tls":
			cfg.TLSConfig = v
			if v == "REQUIRED" || v == "required" {
				cfg.TLSConfig = "true"
			}
		case "connect_timeout", "timeout":
			d, err := parseSeconds(v)
			if err != nil {
				return nil, badDuration(k, err)
			}
			cfg.Timeout = d
		case "read_timeout", "readtimeout":
			d, err := parseSeconds(v)
			if err != nil {
				return nil, badDuration(k, err)
			}
			cfg.ReadTimeout = d
		case "write_timeout", "writetimeout":
			d, err := parseSeconds(v)
			if err != nil {
				return nil, badDuration(k, err)
			}
			cfg.WriteTimeout = d
		default:
			// Unknown Python-driver options are ignored rather than sent to
			// the server as session variables.
		}
	}
	return cfg, nil
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
