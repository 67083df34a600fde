package credentials

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/ops-worker/ops-worker/internal/domain"
)

// memStore is an in-memory Store for the edge cases; the MariaDB test
// (integration_test.go) runs the real one.
type memStore struct {
	mu    sync.Mutex
	rows  map[string]domain.CredentialRecord
	gets  int
	fail  error  // answered by every call while set
	onCAS func() // runs inside ResealCredential before the compare
}

func newMemStore() *memStore { return &memStore{rows: map[string]domain.CredentialRecord{}} }

func (m *memStore) PutCredential(_ context.Context, rec domain.CredentialRecord, overwrite bool) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return false, m.fail
	}
	k := rec.Kind + "/" + rec.Ref
	old, ok := m.rows[k]
	if ok && !overwrite {
		return false, domain.ErrCredentialExists
	}
	rec.Sealed = bytes.Clone(rec.Sealed)
	if ok {
		rec.CreatedAt = old.CreatedAt
	}
	m.rows[k] = rec
	return !ok, nil
}

func (m *memStore) GetCredential(_ context.Context, kind, ref string) (*domain.CredentialRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	if m.fail != nil {
		return nil, m.fail
	}
	r, ok := m.rows[kind+"/"+ref]
	if !ok {
		return nil, nil
	}
	r.Sealed = bytes.Clone(r.Sealed)
	return &r, nil
}

func (m *memStore) ListCredentials(_ context.Context, kind string) ([]domain.CredentialRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []domain.CredentialRecord
	for _, r := range m.rows {
		if r.Kind == kind {
			r.Sealed = nil
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b domain.CredentialRecord) int { return strings.Compare(a.Ref, b.Ref) })
	return out, nil
}

func (m *memStore) CredentialsNotUnder(_ context.Context, keyID string, limit int) ([]domain.CredentialRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if limit <= 0 {
		return nil, errors.New("bad limit")
	}
	var out []domain.CredentialRecord
	for _, r := range m.rows {
		if r.KeyID != keyID {
			r.Sealed = bytes.Clone(r.Sealed)
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b domain.CredentialRecord) int {
		return strings.Compare(a.Kind+"/"+a.Ref, b.Kind+"/"+b.Ref)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *memStore) ResealCredential(_ context.Context, kind, ref, oldKeyID string, oldSealed []byte, newKeyID string, newSealed []byte) (bool, error) {
	if m.onCAS != nil {
		m.onCAS()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := kind + "/" + ref
	r, ok := m.rows[k]
	if !ok || r.KeyID != oldKeyID || !bytes.Equal(r.Sealed, oldSealed) {
		return false, nil
	}
	r.KeyID, r.Sealed = newKeyID, bytes.Clone(newSealed)
	m.rows[k] = r
	return true, nil
}
