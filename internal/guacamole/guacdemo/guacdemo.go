// Package guacdemo creates the two tables of Apache Guacamole's MySQL
// schema that internal/guacamole reads, and puts connections in them: for
// the tests and for `make run`'s embedded demo database. The worker itself
// never writes Guacamole's database.
//
// The tables follow Guacamole's published schema
// (guacamole-auth-jdbc-mysql, schema/001-create-schema.sql): the same
// columns, types and keys, except the foreign key of
// guacamole_connection.parent_id, whose table (connection groups) is not
// created here.
package guacdemo

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/ops-worker/ops-worker/internal/domain"
)

// tables are the two CREATE TABLE statements; %s is the table qualifier
// ("`db`." or "").
var tables = []string{
	"CREATE TABLE %sguacamole_connection (" +
		"`connection_id` int(11) NOT NULL AUTO_INCREMENT," +
		"`connection_name` varchar(128) NOT NULL," +
		"`parent_id` int(11)," +
		"`protocol` varchar(32) NOT NULL," +
		"`proxy_port` integer," +
		"`proxy_hostname` varchar(512)," +
		"`proxy_encryption_method` enum('NONE', 'SSL')," +
		"`max_connections` int(11)," +
		"`max_connections_per_user` int(11)," +
		"`connection_weight` int(11)," +
		"`failover_only` boolean NOT NULL DEFAULT 0," +
		"PRIMARY KEY (`connection_id`)," +
		"UNIQUE KEY `connection_name_parent` (`connection_name`, `parent_id`)" +
		") ENGINE=InnoDB DEFAULT CHARSET=utf8",
	"CREATE TABLE %sguacamole_connection_parameter (" +
		"`connection_id` int(11) NOT NULL," +
		"`parameter_name` varchar(128) NOT NULL," +
		"`parameter_value` varchar(4096) NOT NULL," +
		"PRIMARY KEY (`connection_id`, `parameter_name`)," +
		"CONSTRAINT `guacamole_connection_parameter_ibfk_1` FOREIGN KEY (`connection_id`)" +
		" REFERENCES %sguacamole_connection (`connection_id`) ON DELETE CASCADE" +
		") ENGINE=InnoDB DEFAULT CHARSET=utf8",
}

// qualifier is "`db`." for database, "" for the connection's own.
func qualifier(database string) string {
	if database == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(database, "`", "``") + "`."
}

// CreateTables creates the two tables in database ("" : the connection's
// own), creating the database first when it is named.
func CreateTables(ctx context.Context, db *sql.DB, database string) error {
	q := qualifier(database)
	if database != "" {
		if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+strings.TrimSuffix(q, ".")); err != nil {
			return fmt.Errorf("guacamole demo: create database: %w", err)
		}
	}
	for _, t := range tables {
		if _, err := db.ExecContext(ctx, strings.ReplaceAll(t, "%s", q)); err != nil {
			return fmt.Errorf("guacamole demo: create table: %w", err)
		}
	}
	return nil
}

// Add inserts conns (their ID, name and protocol) with a hostname and a
// port parameter each where one is given, and a password parameter the
// reader must never show (Guacamole keeps RDP passwords there).
func Add(ctx context.Context, db *sql.DB, database string, conns ...domain.GuacConnection) error {
	q := qualifier(database)
	for _, c := range conns {
		if _, err := db.ExecContext(ctx, "INSERT INTO "+q+"guacamole_connection (connection_id, connection_name, protocol) VALUES (?, ?, ?)",
			c.ID, c.Name, c.Protocol); err != nil {
			return fmt.Errorf("guacamole demo: connection %d: %w", c.ID, err)
		}
		for _, p := range [][2]string{{"hostname", c.Hostname}, {"port", c.Port}, {"password", Password}} {
			if p[1] == "" {
				continue
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO "+q+"guacamole_connection_parameter (connection_id, parameter_name, parameter_value) VALUES (?, ?, ?)",
				c.ID, p[0], p[1]); err != nil {
				return fmt.Errorf("guacamole demo: connection %d, parameter %s: %w", c.ID, p[0], err)
			}
		}
	}
	return nil
}

// Password is the RDP password parameter Add gives every connection: a
// test checks no answer or log line holds it.
const Password = "guac-Rdp-Pw-5e1f"
