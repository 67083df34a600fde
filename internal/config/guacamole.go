package config

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Guacamole's database is found as the current gateway's worker finds it
// (GATEWAY.md section 4), first match wins:
//
//  1. GUACAMOLE_MYSQL_DSN, in any form MYSQL_DSN takes;
//  2. OPS_GUACAMOLE_MYSQL_USER and OPS_GUACAMOLE_MYSQL_PASSWORD with
//     GUACAMOLE_MYSQL_DATABASE (or MYSQL_DATABASE), on MYSQL_HOSTNAME (or
//     MYSQL_HOST, default "mysql", the gateway's compose service) and
//     MYSQL_PORT (3306);
//  3. MYSQL_DSN's server and account with GUACAMOLE_MYSQL_DATABASE (or
//     MYSQL_DATABASE) as the database.
//
// Otherwise there is none, and GET /api/hosts says so.

// guacamoleConnectTimeout bounds the connect to Guacamole's database: its
// one read is bounded by a few seconds anyway (guacamole.DefaultTimeout).
const guacamoleConnectTimeout = 3 * time.Second

// GuacamoleDB is the driver config of Guacamole's database (see above),
// nil when none is configured. Its errors name the variable and never hold
// a password.
func (c Config) GuacamoleDB() (*mysql.Config, error) {
	db := firstNonBlank(c.GuacamoleDatabase, c.GuacamoleDatabaseAlt)
	switch {
	case strings.TrimSpace(c.GuacamoleDSN) != "":
		cfg, err := ParseDSN(c.GuacamoleDSN)
		if err != nil {
			return nil, fmt.Errorf("GUACAMOLE_MYSQL_DSN: %w", err)
		}
		return guacamoleDefaults(cfg), nil
	case strings.TrimSpace(c.GuacamoleUser) != "" && c.GuacamolePassword != "" && db != "":
		host, port := c.MySQLServer() // MYSQL_PORT is checked by LoadFrom
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd = strings.TrimSpace(c.GuacamoleUser), c.GuacamolePassword
		cfg.Net, cfg.Addr, cfg.DBName = "tcp", net.JoinHostPort(host, port), db
		return guacamoleDefaults(cfg), nil
	case strings.TrimSpace(c.MySQLDSN) != "" && db != "":
		cfg, err := ParseDSN(c.MySQLDSN)
		if err != nil {
			return nil, fmt.Errorf("MYSQL_DSN: %w", err)
		}
		cfg.DBName = db
		return guacamoleDefaults(cfg), nil
	}
	return nil, nil
}

// checkGuacamole refuses a Guacamole configuration that cannot be used, at
// start-up rather than at the first GET /api/hosts.
func (c *Config) checkGuacamole() error {
	_, err := c.GuacamoleDB()
	return err
}

// guacamoleDefaults gives cfg the settings every connection of the worker
// has (ParseDSN's: parseTime, UTC, read and write timeouts) and a short
// connect timeout.
func guacamoleDefaults(cfg *mysql.Config) *mysql.Config {
	cfg.ParseTime, cfg.Loc = true, time.UTC
	if cfg.Timeout == 0 || cfg.Timeout > guacamoleConnectTimeout {
		cfg.Timeout = guacamoleConnectTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = dsnReadTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = dsnWriteTimeout
	}
	return cfg
}

func firstNonBlank(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
