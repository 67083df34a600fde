package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/store"
)

func testCatalogHosts(t *testing.T, b Backend) {
	s, openAgain := b.Open(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 123456000, time.UTC)
	clock := NewClock(now)
	s.Now = clock.Now
	if got, err := s.CatalogHosts(ctx()); err != nil || len(got) != 0 {
		t.Fatalf("fresh: %v %v", got, err)
	}
	entryB := json.RawMessage(`{"name":"Lab-WS-B","address":"10.0.0.2","labs":["2"]}`)
	entryA := json.RawMessage(`{"name":"lab-ws-a","address":"10.0.0.1"}`)
	// B first (clock), then A at the same instant given explicitly, then C
	// later: the order is created_at, then name.
	if err := s.AddCatalogHost(ctx(), store.CatalogHost{Name: "Lab-WS-B", Entry: entryB, CreatedBy: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCatalogHost(ctx(), store.CatalogHost{Name: "lab-ws-a", Entry: entryA, CreatedBy: "bob", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if err := s.AddCatalogHost(ctx(), store.CatalogHost{Name: "lab-ws-0", Entry: json.RawMessage(`{"name":"lab-ws-0","address":"10.0.0.3"}`)}); err != nil {
		t.Fatal(err)
	}
	err := s.AddCatalogHost(ctx(), store.CatalogHost{Name: "LAB-WS-B", Entry: entryB})
	if !errors.Is(err, store.ErrCatalogHostExists) {
		t.Errorf("duplicate name in another case: %v, want ErrCatalogHostExists", err)
	}
	for _, bad := range []store.CatalogHost{
		{Name: " ", Entry: entryA},
		{Name: "x", Entry: json.RawMessage(`{"name":`)},
		{Name: string(make([]byte, 129)), Entry: entryA},
	} {
		if err := s.AddCatalogHost(ctx(), bad); err == nil || errors.Is(err, store.ErrCatalogHostExists) {
			t.Errorf("AddCatalogHost(%q, %s) = %v, want a plain error", bad.Name, bad.Entry, err)
		}
	}
	other := openAgain() // another instance reads the same rows
	defer other.Close()
	got, err := other.CatalogHosts(ctx())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("CatalogHosts = %+v, want 3 rows", got)
	}
	want := []struct {
		name, by string
		at       time.Time
	}{{"lab-ws-a", "bob", now}, {"Lab-WS-B", "alice", now}, {"lab-ws-0", "", now.Add(time.Second)}}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.CreatedBy != w.by || !g.CreatedAt.Equal(w.at) {
			t.Errorf("row %d = %s by %q at %v, want %s by %q at %v", i, g.Name, g.CreatedBy, g.CreatedAt, w.name, w.by, w.at)
		}
	}
	if string(got[1].Entry) != string(entryB) {
		t.Errorf("entry = %s, want it as stored %s", got[1].Entry, entryB)
	}
}
