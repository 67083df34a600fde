package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ops-worker/ops-worker/internal/domain"
)

// ErrCredentialExists is PutCredential's answer for a row that exists when
// overwrite is false (domain.ErrCredentialExists itself).
var ErrCredentialExists = domain.ErrCredentialExists

// us truncates to the microsecond precision of the DATETIME(6) columns.
func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// PutCredential writes rec (Kind, Ref, Type, KeyID, Sealed, UpdatedBy; the
// times are the store's clock). With overwrite it inserts or replaces in
// one statement, keeping created_at; without, an existing row is left as
// is and ErrCredentialExists answered. created tells an insert.
func (s *Store) PutCredential(ctx context.Context, rec domain.CredentialRecord, overwrite bool) (created bool, err error) {
	now := us(s.now())
	const insert = `INSERT INTO ops_credentials
  (kind, credential_ref, type, key_id, sealed, created_at, updated_at, updated_by)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	args := []any{rec.Kind, rec.Ref, rec.Type, rec.KeyID, rec.Sealed, now, now, rec.UpdatedBy}
	if !overwrite {
		if _, err := s.DB.ExecContext(ctx, insert, args...); err != nil {
			var me *mysql.MySQLError
			if errors.As(err, &me) && me.Number == 1062 {
				return false, fmt.Errorf("credential %s/%s: %w", rec.Kind, rec.Ref, ErrCredentialExists)
			}
			return false, fmt.Errorf("insert credential %s/%s: %w", rec.Kind, rec.Ref, err)
		}
		return true, nil
	}
	res, err := s.DB.ExecContext(ctx, insert+`
  ON DUPLICATE KEY UPDATE type = VALUES(type), key_id = VALUES(key_id), sealed = VALUES(sealed),
  updated_at = VALUES(updated_at), updated_by = VALUES(updated_by)`, args...)
	if err != nil {
		return false, fmt.Errorf("write credential %s/%s: %w", rec.Kind, rec.Ref, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("write credential %s/%s: %w", rec.Kind, rec.Ref, err)
	}
	// MySQL counts 1 for an insert, 2 for an update of an existing row.
	return n == 1, nil
}

const credentialColumns = `kind, credential_ref, type, key_id, sealed, created_at, updated_at, updated_by`

func scanCredential(sc interface{ Scan(...any) error }) (domain.CredentialRecord, error) {
	var r domain.CredentialRecord
	err := sc.Scan(&r.Kind, &r.Ref, &r.Type, &r.KeyID, &r.Sealed, &r.CreatedAt, &r.UpdatedAt, &r.UpdatedBy)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

// GetCredential reads one row, or nil, nil when there is none.
func (s *Store) GetCredential(ctx context.Context, kind, ref string) (*domain.CredentialRecord, error) {
	r, err := scanCredential(s.DB.QueryRowContext(ctx,
		`SELECT `+credentialColumns+` FROM ops_credentials WHERE kind = ? AND credential_ref = ?`, kind, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read credential %s/%s: %w", kind, ref, err)
	}
	return &r, nil
}

// ListCredentials lists one kind's rows by reference, metadata only: the
// sealed bytes are not read (Sealed is nil).
func (s *Store) ListCredentials(ctx context.Context, kind string) ([]domain.CredentialRecord, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT kind, credential_ref, type, key_id, NULL, created_at, updated_at, updated_by
FROM ops_credentials WHERE kind = ? ORDER BY credential_ref`, kind)
	if err != nil {
		return nil, fmt.Errorf("list credentials %s: %w", kind, err)
	}
	return collectCredentials(rows, "list credentials "+kind)
}

// CredentialsNotUnder answers up to limit rows sealed under a key other
// than keyID, with their sealed bytes, in (kind, reference) order.
func (s *Store) CredentialsNotUnder(ctx context.Context, keyID string, limit int) ([]domain.CredentialRecord, error) {
	if limit <= 0 || limit > domain.MaxPageSize {
		return nil, fmt.Errorf("credentials not under %s: limit %d out of 1..%d", keyID, limit, domain.MaxPageSize)
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+credentialColumns+`
FROM ops_credentials WHERE key_id <> ? ORDER BY kind, credential_ref LIMIT ?`, keyID, limit)
	if err != nil {
		return nil, fmt.Errorf("credentials not under %s: %w", keyID, err)
	}
	return collectCredentials(rows, "credentials not under "+keyID)
}

func collectCredentials(rows *sql.Rows, what string) ([]domain.CredentialRecord, error) {
	defer rows.Close()
	var out []domain.CredentialRecord
	for rows.Next() {
		r, err := scanCredential(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// ResealCredential replaces a row's sealing only while the row still holds
// oldKeyID and oldSealed (compare and swap): a write made since it was read
// wins, and false is answered. updated_at and updated_by stay: re-sealing
// changes no credential.
func (s *Store) ResealCredential(ctx context.Context, kind, ref, oldKeyID string, oldSealed []byte, newKeyID string, newSealed []byte) (bool, error) {
	res, err := s.DB.ExecContext(ctx, `UPDATE ops_credentials SET key_id = ?, sealed = ?
WHERE kind = ? AND credential_ref = ? AND key_id = ? AND sealed = ?`, newKeyID, newSealed, kind, ref, oldKeyID, oldSealed)
	if err != nil {
		return false, fmt.Errorf("reseal credential %s/%s: %w", kind, ref, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("reseal credential %s/%s: %w", kind, ref, err)
	}
	return n == 1, nil
}
