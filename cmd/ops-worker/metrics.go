package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/metrics"
	"github.com/ops-worker/ops-worker/internal/store"
)

// Bounds of seeding the heartbeat gauges from the database at start-up.
const (
	seedTimeout  = 5 * time.Second
	seedMaxHosts = 1000
)

// knownHost reports whether name is in the host catalog in force, so the
// per-station metrics follow the catalog (reloads included).
func (m *Main) knownHost(name string) bool {
	if m.app == nil {
		return false
	}
	_, ok := m.app.Hosts().Catalog().Get(name)
	return ok
}

// seedHeartbeats gives the heartbeat age gauges the last heartbeat stored
// before this process started, so a station that stopped answering while
// the worker was down is visible at the first scrape. Bounded: at most
// seedMaxHosts hosts within seedTimeout; what is left is filled by the
// next polls.
func seedHeartbeats(ctx context.Context, a *app.App, mt *metrics.Metrics, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, seedTimeout)
	defer cancel()
	seeded := 0
	for i, h := range a.Hosts().Catalog().Hosts() {
		if i >= seedMaxHosts {
			break
		}
		hb, err := a.Store().LatestHeartbeat(ctx, h.Name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			log.Warn("metrics: last stored heartbeats not read; the heartbeat gauges start with the first polls", "err", err)
			return
		}
		if hb == nil || hb.Timestamp == nil {
			continue
		}
		mt.SeedHeartbeat(h.Name, *hb.Timestamp, hb.Ready != nil && *hb.Ready)
		seeded++
	}
	log.Debug("metrics: heartbeat gauges seeded from the database", "hosts", seeded)
}
