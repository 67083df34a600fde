package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/store"
)

// catalogStore adapts the store's ops_catalog_hosts to the catalog's
// database part (hosts.DynamicStore), which imports no adapter.
type catalogStore struct{ s *store.Store }

// CatalogStore is the database part of the host catalog on s.
func CatalogStore(s *store.Store) hosts.DynamicStore { return catalogStore{s} }

func (c catalogStore) CatalogHosts(ctx context.Context) ([]hosts.DynamicEntry, error) {
	rows, err := c.s.CatalogHosts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]hosts.DynamicEntry, len(rows))
	for i, r := range rows {
		out[i] = hosts.DynamicEntry{Name: r.Name, Entry: r.Entry, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

func (c catalogStore) AddCatalogHost(ctx context.Context, e hosts.DynamicEntry) error {
	err := c.s.AddCatalogHost(ctx, domain.CatalogHost{Name: e.Name, Entry: e.Entry, CreatedBy: e.CreatedBy, CreatedAt: e.CreatedAt})
	if errors.Is(err, store.ErrCatalogHostExists) {
		// Another instance added the name since this one's check.
		return fmt.Errorf("%w: %w", hosts.ErrHostExists, err)
	}
	return err
}
