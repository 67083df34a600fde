package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/metrics"
)

// Bounds of seeding the heartbeat gauges from the database at start-up.
const (
	seedTimeout = 5 * time.Second
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
// the worker was down is visible at the first scrape. One query per
// store.MaxBatch hosts, bounded by seedTimeout; when it fails the gauges
// start with the first polls.
func seedHeartbeats(ctx context.Context, a *app.App, mt *metrics.Metrics, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, seedTimeout)
	defer cancel()
	hosts := a.Hosts().Current(ctx).Hosts()
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	if len(names) == 0 {
		return
	}
	latest, err := a.Store().LatestHeartbeats(ctx, names)
	if err != nil {
		log.Warn("metrics: last stored heartbeats not read; the heartbeat gauges start with the first polls", "err", err)
		return
	}
	seeded := 0
	for _, h := range hosts {
		hb := latest[strings.ToLower(strings.TrimSpace(h.Name))]
		if hb == nil || hb.Timestamp == nil {
			continue
		}
		mt.SeedHeartbeat(h.Name, *hb.Timestamp, hb.Ready != nil && *hb.Ready)
		seeded++
	}
	log.Debug("metrics: heartbeat gauges seeded from the database", "hosts", seeded)
}
