package domain

import (
	"github.com/ops-worker/ops-worker/internal/labstation"
)

// EventKindSessionGuard is the lab_host_events kind of a session-guard log line.
const EventKindSessionGuard = "session-guard"

// NewHeartbeatRecord maps a parsed heartbeat (and the last session-guard
// event, if any) onto the columns of lab_host_heartbeat and lab_host_events,
// as LABSTATION.md defines them. The host's mode comes from the station's
// own status.stationProfile when it reports one, else from the catalog.
func NewHeartbeatRecord(host HostRecord, hb *labstation.Heartbeat, ev *labstation.Event) HeartbeatRecord {
	ready, localMode, localSession := hb.Ready, hb.LocalModeEnabled, hb.LocalSessionActive
	if hb.StationProfile == "pure" || hb.StationProfile == "hybrid" {
		host.Mode = hb.StationProfile
	}
	rec := HeartbeatRecord{
		Host:         host,
		Timestamp:    hb.Timestamp,
		Ready:        &ready,
		LocalMode:    &localMode,
		LocalSession: &localSession,
		Raw:          hb.Raw,
	}
	if f := hb.LastForcedLogoff; f != nil {
		rec.LastForcedLogoffAt, rec.LastForcedLogoffUser = f.Timestamp, f.User
	}
	if p := hb.LastPowerAction; p != nil {
		rec.LastPowerActionAt, rec.LastPowerActionMode = p.Timestamp, p.Mode
	}
	if ev != nil {
		ts := ev.Timestamp
		rec.Event = &EventRecord{Kind: EventKindSessionGuard, Timestamp: &ts, Payload: ev.Raw}
	}
	return rec
}
