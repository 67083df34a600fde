package ops_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/store/storetest"
)

func TestTimeline(t *testing.T) {
	t.Parallel()
	// Two hosts claim lab 5; the first is quarantined in the catalog, so the
	// second serves it.
	f := newFixture(t, fixtureOpts{db: true, labs: map[string][]string{"lab-ws-01": {"5"}, "lab-ws-02": {"5"}},
		entries: func(e []map[string]any) { e[0]["quarantined"] = true }},
		labsim.HostOptions{Name: "lab-ws-01"}, labsim.HostOptions{Name: "lab-ws-02"})
	ctx := context.Background()
	start := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	storetest.InsertReservation(t, f.store, "0xres", "5", "CONFIRMED", start, start.Add(time.Hour))

	_, err := f.svc.Timeline(ctx, ops.TimelineRequest{})
	wantCode(t, err, ops.CodeBadRequest, "reservationId is required")
	_, err = f.svc.Timeline(ctx, ops.TimelineRequest{ReservationID: "0xnone"})
	wantCode(t, err, ops.CodeReservationNotFound, "Reservation not found")

	for _, r := range []ops.StartRequest{
		{ReservationID: "0xres", Host: "lab-ws-02", Wake: ptr(false)},
		{ReservationID: "0xres", Host: "lab-ws-02", Wake: ptr(false), PrepareArgs: []string{"--guard-grace=1"}},
	} {
		if res, err := f.svc.StartReservation(ctx, r); err != nil || !res.Success {
			t.Fatalf("start: %+v %v", res, err)
		}
	}
	if res, err := f.svc.EndReservation(ctx, ops.EndRequest{ReservationID: "0xres", Host: "lab-ws-02", ReleaseArgs: []string{}}); err != nil || !res.Success {
		t.Fatalf("end: %+v %v", res, err)
	}
	if _, err := f.svc.PollHeartbeat(ctx, ops.PollRequest{Host: "lab-ws-02"}); err != nil {
		t.Fatal(err)
	}

	tl, err := f.svc.Timeline(ctx, ops.TimelineRequest{ReservationID: "0xres", Limit: ptr(2)})
	if err != nil {
		t.Fatalf("Timeline: %v", err)
	}
	if tl.Reservation.ReservationID != "0xres" || tl.Reservation.LabID != "5" || tl.Reservation.Status != "CONFIRMED" ||
		!tl.Reservation.Start.Equal(start) || tl.Reservation.Start.Location() != time.UTC {
		t.Errorf("reservation = %+v", tl.Reservation)
	}
	if tl.Host == nil || tl.Host.Name != "lab-ws-02" || tl.Host.LabID != "5" || tl.Host.Config.Name != "lab-ws-02" {
		t.Errorf("host = %+v", tl.Host)
	}
	if len(tl.Operations) != 2 || tl.Operations[0].Action != "prepare" || tl.Operations[1].Action != "prepare" ||
		tl.Operations[0].ID > tl.Operations[1].ID {
		t.Errorf("operations (oldest first) = %+v", tl.Operations)
	}
	p := tl.Pagination
	if p.Limit != 2 || p.Offset != 0 || p.Page != 1 || p.PageSize != 2 || p.Returned != 2 || p.Total != 3 || !p.HasMore ||
		p.NextOffset == nil || *p.NextOffset != 2 {
		t.Errorf("pagination = %+v", p)
	}
	// Phases come from all recent operations, not from the page.
	if tl.Phases.Prepare == nil || tl.Phases.Release == nil || tl.Phases.Wake != nil || tl.Phases.Power != nil ||
		tl.Phases.Prepare.ID != tl.Operations[1].ID {
		t.Errorf("phases = %+v", tl.Phases)
	}
	if tl.Heartbeat == nil || tl.Heartbeat.Ready == nil || tl.Heartbeat.Timestamp == nil || len(tl.Heartbeat.Raw) == 0 {
		t.Errorf("heartbeat = %+v", tl.Heartbeat)
	}

	body, err := json.Marshal(tl)
	if err != nil {
		t.Fatal(err)
	}
	if pw := f.sim.Host("lab-ws-02").Password(); strings.Contains(string(body), pw) {
		t.Errorf("timeline JSON holds the password: %s", body)
	}
	for _, key := range []string{`"reservationId"`, `"walletAddress"`, `"pageSize"`, `"nextOffset":2`, `"schedulerEnd":null`,
		`"lastPower"`, `"lastForcedLogoff"`, `"responseCode":200`, `"durationMs"`, `"createdAt"`} {
		if !strings.Contains(string(body), key) {
			t.Errorf("timeline JSON lacks %s", key)
		}
	}

	// Last page; bad limit and offset take the defaults; the maximum holds.
	tl, err = f.svc.Timeline(ctx, ops.TimelineRequest{ReservationID: "0xres", Limit: ptr(2), Offset: ptr(2)})
	if err != nil || tl.Pagination.Page != 2 || tl.Pagination.Returned != 1 || tl.Pagination.HasMore || tl.Pagination.NextOffset != nil ||
		tl.Operations[0].Action != "release" {
		t.Errorf("last page = %+v, %v", tl.Pagination, err)
	}
	tl, err = f.svc.Timeline(ctx, ops.TimelineRequest{ReservationID: "0xres", Limit: nil, Offset: ptr(-4)})
	if err != nil || tl.Pagination.Limit != 100 || tl.Pagination.Offset != 0 || tl.Pagination.Returned != 3 {
		t.Errorf("defaults = %+v, %v", tl.Pagination, err)
	}
	tl, err = f.svc.Timeline(ctx, ops.TimelineRequest{ReservationID: "0xres", Limit: ptr(100000)})
	if err != nil || tl.Pagination.Limit != 500 {
		t.Errorf("max = %+v, %v", tl.Pagination, err)
	}

	// Recent operations: newest first, same pagination.
	rr, err := f.svc.RecentOperations(ctx, ops.RecentRequest{Limit: ptr(1)})
	if err != nil || len(rr.Operations) != 1 || rr.Operations[0].Action != "release" || rr.Pagination.Total != 3 ||
		*rr.Pagination.NextOffset != 1 {
		t.Errorf("recent = %+v, %v", rr, err)
	}
	rr, err = f.svc.RecentOperations(ctx, ops.RecentRequest{ReservationID: "0xother"})
	if err != nil || len(rr.Operations) != 0 || rr.Pagination.Total != 0 || rr.Pagination.NextOffset != nil {
		t.Errorf("recent of another reservation = %+v, %v", rr, err)
	}
	// By host (the catalog's spelling, whatever the query's case), alone
	// or with a reservation; a host not in the catalog is 404.
	rr, err = f.svc.RecentOperations(ctx, ops.RecentRequest{Host: "LAB-WS-02"})
	if err != nil || len(rr.Operations) != 3 || rr.Operations[0].Host != "lab-ws-02" || rr.Pagination.Total != 3 {
		t.Errorf("recent of lab-ws-02 = %+v, %v", rr, err)
	}
	rr, err = f.svc.RecentOperations(ctx, ops.RecentRequest{Host: "lab-ws-01"})
	if err != nil || len(rr.Operations) != 0 || rr.Pagination.Total != 0 {
		t.Errorf("recent of lab-ws-01 = %+v, %v", rr, err)
	}
	rr, err = f.svc.RecentOperations(ctx, ops.RecentRequest{Host: "lab-ws-02", ReservationID: "0xother"})
	if err != nil || len(rr.Operations) != 0 {
		t.Errorf("recent of lab-ws-02 and another reservation = %+v, %v", rr, err)
	}
	_, err = f.svc.RecentOperations(ctx, ops.RecentRequest{Host: "nope"})
	wantCode(t, err, ops.CodeHostNotFound, "host 'nope' not found")
}

func TestHosts_QuarantineAndReload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{db: true, labs: map[string][]string{"lab-ws-01": {"1"}, "lab-ws-02": {"1"}},
		entries: func(e []map[string]any) { e[0]["quarantined"] = true }},
		labsim.HostOptions{Name: "lab-ws-01"}, labsim.HostOptions{Name: "lab-ws-02"})
	ctx := context.Background()

	if h := f.svc.Health(ctx); h.Status != "ok" || h.HostsLoaded != 1 || !h.DB || h.DBKind != "mysql" || h.Relay != nil || h.Version != "test" {
		t.Errorf("health = %+v", h)
	}
	if h, ok := f.svc.HostForLab(ctx, "1"); !ok || h.Name != "lab-ws-02" {
		t.Errorf("host for lab 1 = %v %v", h.Name, ok)
	}
	// The stored flag wins over the catalog's, both ways.
	if r, err := f.svc.SetQuarantine(ctx, ops.QuarantineRequest{Host: "LAB-WS-01", Quarantined: ptr(false)}); err != nil || r.Host != "lab-ws-01" || r.Quarantined {
		t.Fatalf("unquarantine = %+v, %v", r, err)
	}
	if r, err := f.svc.SetQuarantine(ctx, ops.QuarantineRequest{Host: "lab-ws-02"}); err != nil || !r.Quarantined {
		t.Fatalf("quarantine (default true) = %+v, %v", r, err)
	}
	if h, ok := f.svc.HostForLab(ctx, "1"); !ok || h.Name != "lab-ws-01" {
		t.Errorf("host for lab 1 after the flags = %v %v", h.Name, ok)
	}
	if _, err := f.svc.PollHeartbeat(ctx, ops.PollRequest{Host: "lab-ws-01"}); err != nil {
		t.Fatal(err)
	}
	hr, err := f.svc.Hosts(ctx)
	if err != nil || len(hr.Hosts) != 2 {
		t.Fatalf("hosts = %+v, %v", hr, err)
	}
	if a, b := hr.Hosts[0], hr.Hosts[1]; a.Quarantined || !b.Quarantined || a.Heartbeat == nil || a.Heartbeat.Stale ||
		b.Heartbeat != nil {
		t.Errorf("hosts = %+v / %+v", a, b)
	}
	body, _ := json.Marshal(hr)
	for _, name := range []string{"lab-ws-01", "lab-ws-02"} {
		if strings.Contains(string(body), f.sim.Host(name).Password()) {
			t.Errorf("hosts JSON holds a password: %s", body)
		}
	}
	if h := f.svc.Health(ctx); h.HostsLoaded != 1 {
		t.Errorf("health hosts_loaded = %d, want 1", h.HostsLoaded)
	}

	// Reload: a bad file is refused and the catalog in force stays.
	good, _ := os.ReadFile(f.path)
	if err := os.WriteFile(f.path, []byte(`{"hosts": [{"name": "x"`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.ReloadHosts(ctx)
	wantCode(t, err, ops.CodeConfigInvalid, "")
	if e, _ := ops.AsError(err); e != nil && !strings.Contains(e.Message, "previous catalog kept") {
		t.Errorf("reload message = %q", e.Message)
	}
	if f.svc.Registry.Catalog().Len() != 2 {
		t.Error("a bad file replaced the catalog")
	}
	var doc map[string][]map[string]any
	_ = json.Unmarshal(good, &doc)
	doc["hosts"] = doc["hosts"][:1]
	one, _ := json.Marshal(doc)
	_ = os.WriteFile(f.path, one, 0o600)
	if r, err := f.svc.ReloadHosts(ctx); err != nil || !r.Reloaded || r.Hosts != 1 {
		t.Errorf("reload = %+v, %v", r, err)
	}
	if _, err := f.svc.PollHeartbeat(ctx, ops.PollRequest{Host: "lab-ws-02"}); err == nil {
		t.Error("a host removed by reload still answers")
	}
}

func TestHealth_NoDB(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{entries: func(e []map[string]any) { e[1]["quarantined"] = true }},
		labsim.HostOptions{Name: "lab-ws-01"}, labsim.HostOptions{Name: "lab-ws-02"})
	f.svc.Settings.RelayConfigured = true
	h := f.svc.Health(context.Background())
	if h.Status != "ok" || h.DB || h.DBKind != "none" || h.HostsLoaded != 1 || h.Relay == nil || !h.Relay.Configured {
		t.Errorf("health = %+v", h)
	}
	hr, err := f.svc.Hosts(context.Background())
	if err != nil || len(hr.Hosts) != 2 || !hr.Hosts[1].Quarantined || hr.Hosts[0].Heartbeat != nil {
		t.Errorf("hosts = %+v, %v", hr, err)
	}
}
