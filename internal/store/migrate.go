package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	schema "github.com/ops-worker/ops-worker/mysql"
)

// Migrate applies every embedded schema file not yet recorded in
// schema_migrations, in name order. Each file is itself safe to apply twice,
// so two instances starting at once cannot break each other; the record
// only saves work.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrate(ctx, schema.Files)
}

func (s *Store) migrate(ctx context.Context, files fs.FS) error {
	if _, err := s.DB.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
  version VARCHAR(255) NOT NULL,
  checksum CHAR(64) NOT NULL,
  applied_at DATETIME(3) NOT NULL,
  PRIMARY KEY (version)
)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	applied := map[string]bool{}
	rows, err := s.DB.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, name := range names {
		if applied[name] {
			continue
		}
		body, err := s.applyFile(ctx, files, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		if _, err := s.DB.ExecContext(ctx,
			`INSERT IGNORE INTO schema_migrations (version, checksum, applied_at) VALUES (?, ?, ?)`,
			name, hex.EncodeToString(sum[:]), ms(s.now())); err != nil {
			return fmt.Errorf("record %s: %w", name, err)
		}
	}
	return nil
}

// createIndexIfNotExists matches MariaDB's CREATE INDEX IF NOT EXISTS, which
// the files use so they stay safe to apply by hand.
var createIndexIfNotExists = regexp.MustCompile(`(?is)^\s*CREATE\s+INDEX\s+IF\s+NOT\s+EXISTS\s+(\w+)\s+ON\s+(\w+)\s*(\(.*)$`)

// execSchema runs one schema statement. CREATE INDEX IF NOT EXISTS is
// checked against information_schema and run without the clause, because
// the embedded engine does not parse it.
func (s *Store) execSchema(ctx context.Context, stmt string) error {
	m := createIndexIfNotExists.FindStringSubmatch(stmt)
	if m == nil {
		_, err := s.DB.ExecContext(ctx, stmt)
		return err
	}
	index, table, cols := m[1], m[2], m[3]
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.statistics
WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?`, table, index).Scan(&n); err != nil {
		return fmt.Errorf("look up index %s: %w", index, err)
	}
	if n > 0 {
		return nil
	}
	_, err := s.DB.ExecContext(ctx, "CREATE INDEX "+index+" ON "+table+" "+cols)
	return err
}

// SplitStatements splits a schema file on semicolons that end a line,
// dropping "--" comment lines. The schema files hold no procedures, so no
// statement has a semicolon at the end of an inner line.
func SplitStatements(sqlText string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sqlText, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			stmt := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")
			out = append(out, stmt)
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		out = append(out, rest)
	}
	return out
}

func (s *Store) applyFile(ctx context.Context, files fs.FS, name string) ([]byte, error) {
	body, err := fs.ReadFile(files, name)
	if err != nil {
		return nil, err
	}
	for i, stmt := range SplitStatements(string(body)) {
		if err := s.execSchema(ctx, stmt); err != nil {
			return nil, fmt.Errorf("apply %s, statement %d: %w", name, i+1, err)
		}
	}
	return body, nil
}
