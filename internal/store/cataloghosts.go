package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ops-worker/ops-worker/internal/domain"
)

// ErrCatalogHostExists is returned by AddCatalogHost for a name (compared
// case-insensitively) the table already holds.
var ErrCatalogHostExists = errors.New("catalog host already exists")

// CatalogHost is the domain's record.
type CatalogHost = domain.CatalogHost

// maxCatalogNameLen is the width of ops_catalog_hosts.name and created_by.
const maxCatalogNameLen = 128

// CatalogHosts returns every host of the dynamic catalog, oldest first
// (then by name), so a merged catalog lists them in the order they came.
func (s *Store) CatalogHosts(ctx context.Context) ([]CatalogHost, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT display_name, entry, created_at, created_by
FROM ops_catalog_hosts ORDER BY created_at, name`)
	if err != nil {
		return nil, fmt.Errorf("read catalog hosts: %w", err)
	}
	defer rows.Close()
	var out []CatalogHost
	for rows.Next() {
		var h CatalogHost
		var entry string
		if err := rows.Scan(&h.Name, &entry, &h.CreatedAt, &h.CreatedBy); err != nil {
			return nil, fmt.Errorf("read catalog hosts: %w", err)
		}
		h.Entry = json.RawMessage(entry)
		h.CreatedAt = h.CreatedAt.UTC()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read catalog hosts: %w", err)
	}
	return out, nil
}

// AddCatalogHost inserts h; a name already there (in any case) is
// ErrCatalogHostExists. A zero CreatedAt is the store's clock. The entry
// is stored as given: validating it is the catalog's job (hosts.Registry.Add).
func (s *Store) AddCatalogHost(ctx context.Context, h CatalogHost) error {
	name := strings.TrimSpace(h.Name)
	switch {
	case name == "":
		return errors.New("add catalog host: empty name")
	case len(name) > maxCatalogNameLen:
		return fmt.Errorf("add catalog host: name longer than %d characters", maxCatalogNameLen)
	case len(h.CreatedBy) > maxCatalogNameLen:
		return fmt.Errorf("add catalog host %s: created_by longer than %d characters", name, maxCatalogNameLen)
	case !json.Valid(h.Entry):
		return fmt.Errorf("add catalog host %s: entry is not valid JSON", name)
	}
	at := h.CreatedAt
	if at.IsZero() {
		at = s.now()
	}
	at = at.UTC().Truncate(time.Microsecond)
	_, err := s.DB.ExecContext(ctx, `INSERT INTO ops_catalog_hosts
  (name, display_name, entry, created_at, created_by, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		strings.ToLower(name), name, string(h.Entry), at, h.CreatedBy, at)
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1062 {
			return fmt.Errorf("add catalog host %s: %w", name, ErrCatalogHostExists)
		}
		return fmt.Errorf("add catalog host %s: %w", name, err)
	}
	return nil
}
