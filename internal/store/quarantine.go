package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// SetQuarantine sets a host's quarantine flag; it holds across every
// instance and restart.
func (s *Store) SetQuarantine(ctx context.Context, host string, quarantined bool) error {
	name := strings.ToLower(strings.TrimSpace(host))
	if name == "" {
		return errors.New("set quarantine: empty host name")
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO lab_host_quarantine (host_name, quarantined, updated_at) VALUES (?, ?, ?)
ON DUPLICATE KEY UPDATE quarantined = VALUES(quarantined), updated_at = VALUES(updated_at)`, name, quarantined, ms(s.now()))
	if err != nil {
		return fmt.Errorf("set quarantine of %s: %w", name, err)
	}
	return nil
}

// Quarantine returns the stored flag of a host; found is false when none
// was ever set (the catalog's "quarantined" then applies).
func (s *Store) Quarantine(ctx context.Context, host string) (quarantined, found bool, err error) {
	name := strings.ToLower(strings.TrimSpace(host))
	err = s.DB.QueryRowContext(ctx, `SELECT quarantined FROM lab_host_quarantine WHERE host_name = ?`, name).Scan(&quarantined)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("read quarantine of %s: %w", name, err)
	}
	return quarantined, true, nil
}

// Quarantines returns every stored flag, by lower-case host name.
func (s *Store) Quarantines(ctx context.Context) (map[string]bool, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT host_name, quarantined FROM lab_host_quarantine`)
	if err != nil {
		return nil, fmt.Errorf("read quarantines: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		var q bool
		if err := rows.Scan(&name, &q); err != nil {
			return nil, err
		}
		out[name] = q
	}
	return out, rows.Err()
}
