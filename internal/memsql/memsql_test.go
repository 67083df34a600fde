package memsql_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/ops-worker/ops-worker/internal/memsql"
	"github.com/ops-worker/ops-worker/internal/store"
	"github.com/ops-worker/ops-worker/internal/store/storetest"
)

func TestStore_Embedded(t *testing.T) {
	var n atomic.Int64
	open := func(t *testing.T) (*store.Store, func() *store.Store) {
		t.Helper()
		srv, err := memsql.Start(context.Background(), fmt.Sprintf("ops_%d", n.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := srv.Close(); err != nil {
				t.Error(err)
			}
		})
		s, err := store.Open(context.Background(), srv.Config())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s, func() *store.Store {
			o, err := store.Open(context.Background(), srv.Config())
			if err != nil {
				t.Fatal(err)
			}
			return o
		}
	}
	storetest.Run(t, storetest.Backend{Open: open, RowLocks: false, SerialWrites: true})
}
