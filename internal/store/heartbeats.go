package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// UpsertHost inserts or refreshes a lab_hosts row and returns its id.
func (s *Store) UpsertHost(ctx context.Context, h HostRecord) (int64, error) {
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = upsertHost(ctx, tx, h, nil, s.now())
		return err
	})
	return id, err
}

func upsertHost(ctx context.Context, tx *sql.Tx, h HostRecord, seen *time.Time, now time.Time) (int64, error) {
	name := strings.ToLower(strings.TrimSpace(h.Name))
	if name == "" {
		return 0, errors.New("upsert host: empty name")
	}
	mode := h.Mode
	if mode != "pure" && mode != "hybrid" {
		mode = ""
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO lab_hosts (name, address, mac, mode, last_seen, created_at, updated_at)
  VALUES (?, ?, ?, ?, ?, ?, ?)
  ON DUPLICATE KEY UPDATE address = VALUES(address), mac = VALUES(mac), mode = COALESCE(VALUES(mode), mode),
    last_seen = COALESCE(VALUES(last_seen), last_seen), updated_at = VALUES(updated_at)`,
		name, nullString(h.Address), nullString(h.MAC), nullString(mode), nullTime(seen), ms(now), ms(now)); err != nil {
		return 0, fmt.Errorf("upsert host %s: %w", name, err)
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM lab_hosts WHERE name = ?`, name).Scan(&id); err != nil {
		return 0, fmt.Errorf("upsert host %s: read id: %w", name, err)
	}
	return id, nil
}

// SaveHeartbeat upserts the host, inserts the heartbeat and the last event
// in one transaction: either all of it is stored or none. A heartbeat with
// the same timestamp as the host's latest one (the station service has not
// rewritten its file) and an event already stored are not inserted again.
func (s *Store) SaveHeartbeat(ctx context.Context, hb HeartbeatRecord) (SavedHeartbeat, error) {
	if len(hb.Raw) > 0 && !json.Valid(hb.Raw) {
		return SavedHeartbeat{}, fmt.Errorf("save heartbeat %s: raw document is not valid JSON", hb.Host.Name)
	}
	if hb.Event != nil && len(hb.Event.Payload) > 0 && !json.Valid(hb.Event.Payload) {
		return SavedHeartbeat{}, fmt.Errorf("save heartbeat %s: event payload is not valid JSON", hb.Host.Name)
	}
	var out SavedHeartbeat
	now := s.now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		out = SavedHeartbeat{}
		out.HostID, err = upsertHost(ctx, tx, hb.Host, &now, now)
		if err != nil {
			return err
		}
		var latest sql.NullTime
		err = tx.QueryRowContext(ctx, `SELECT timestamp_utc FROM lab_host_heartbeat WHERE host_id = ?
  ORDER BY timestamp_utc DESC, id DESC LIMIT 1`, out.HostID).Scan(&latest)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("save heartbeat %s: latest: %w", hb.Host.Name, err)
		}
		ts := &hb.Timestamp
		if !latest.Valid || hb.Timestamp.IsZero() || !latest.Time.Equal(ms(hb.Timestamp)) {
			res, err := tx.ExecContext(ctx, `INSERT INTO lab_host_heartbeat
  (host_id, timestamp_utc, ready, local_mode, local_session, last_forced_logoff_ts, last_forced_logoff_user,
   last_power_action_ts, last_power_action_mode, raw_json, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				out.HostID, nullTime(ts), nullBool(hb.Ready), nullBool(hb.LocalMode), nullBool(hb.LocalSession),
				nullTime(hb.LastForcedLogoffAt), nullString(hb.LastForcedLogoffUser),
				nullTime(hb.LastPowerActionAt), nullString(hb.LastPowerActionMode), nullJSON(hb.Raw), ms(now))
			if err != nil {
				return fmt.Errorf("save heartbeat %s: %w", hb.Host.Name, err)
			}
			if out.HeartbeatID, err = res.LastInsertId(); err != nil {
				return err
			}
		}
		if hb.Event != nil {
			id, err := insertEventOnce(ctx, tx, out.HostID, *hb.Event, now)
			if err != nil {
				return fmt.Errorf("save event of %s: %w", hb.Host.Name, err)
			}
			out.EventID = id
		}
		return nil
	})
	return out, err
}

func insertEventOnce(ctx context.Context, tx *sql.Tx, hostID int64, ev EventRecord, now time.Time) (int64, error) {
	kind := ev.Kind
	if kind == "" {
		kind = "session-guard"
	}
	var n int
	var err error
	if ev.Timestamp != nil {
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM lab_host_events WHERE host_id = ? AND kind = ? AND timestamp_utc = ?`,
			hostID, kind, ms(*ev.Timestamp)).Scan(&n)
	} else {
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM lab_host_events WHERE host_id = ? AND kind = ? AND timestamp_utc IS NULL AND payload = ?`,
			hostID, kind, nullJSON(ev.Payload)).Scan(&n)
	}
	if err != nil {
		return 0, err
	}
	if n > 0 {
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO lab_host_events (host_id, kind, timestamp_utc, payload, created_at) VALUES (?, ?, ?, ?, ?)`,
		hostID, kind, nullTime(ev.Timestamp), nullJSON(ev.Payload), ms(now))
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// heartbeatColumns are what scanStoredHeartbeat reads, of lab_hosts h
// joined with lab_host_heartbeat b.
const heartbeatColumns = `b.id, h.name, b.timestamp_utc, b.ready, b.local_mode, b.local_session,
  b.last_forced_logoff_ts, b.last_forced_logoff_user, b.last_power_action_ts, b.last_power_action_mode,
  b.raw_json, b.created_at, h.last_seen`

func scanStoredHeartbeat(sc interface{ Scan(...any) error }) (*StoredHeartbeat, error) {
	var (
		hb                   StoredHeartbeat
		ts, lfAt, lpAt, seen sql.NullTime
		ready, lm, ls        sql.NullBool
		lfUser, lpMode, raw  sql.NullString
	)
	if err := sc.Scan(&hb.ID, &hb.Host, &ts, &ready, &lm, &ls, &lfAt, &lfUser, &lpAt, &lpMode, &raw, &hb.CreatedAt, &seen); err != nil {
		return nil, err
	}
	hb.Timestamp, hb.LastForcedLogoffAt, hb.LastPowerActionAt, hb.LastSeen = timePtr(ts), timePtr(lfAt), timePtr(lpAt), timePtr(seen)
	hb.Ready, hb.LocalMode, hb.LocalSession = boolPtr(ready), boolPtr(lm), boolPtr(ls)
	hb.LastForcedLogoffUser, hb.LastPowerActionMode = lfUser.String, lpMode.String
	if raw.Valid && raw.String != "" {
		hb.Raw = json.RawMessage(raw.String)
	}
	hb.CreatedAt = hb.CreatedAt.UTC()
	return &hb, nil
}

// LatestHeartbeat returns the newest stored heartbeat of a host (by
// timestamp), or ErrNotFound.
func (s *Store) LatestHeartbeat(ctx context.Context, hostName string) (*StoredHeartbeat, error) {
	name := strings.ToLower(strings.TrimSpace(hostName))
	hb, err := scanStoredHeartbeat(s.DB.QueryRowContext(ctx, `SELECT `+heartbeatColumns+`
FROM lab_hosts h JOIN lab_host_heartbeat b ON b.host_id = h.id
WHERE h.name = ? ORDER BY b.timestamp_utc DESC, b.id DESC LIMIT 1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("latest heartbeat of %s: %w", name, err)
	}
	return hb, nil
}

// LatestHeartbeats returns the newest stored heartbeat of each named host
// (the one LatestHeartbeat finds), keyed by the stored name (lower case,
// trimmed, as LatestHeartbeat looks names up); a host without one is not
// in the map. No names means every host. One query per MaxBatch names.
func (s *Store) LatestHeartbeats(ctx context.Context, hostNames []string) (map[string]*StoredHeartbeat, error) {
	out := make(map[string]*StoredHeartbeat, len(hostNames))
	if len(hostNames) == 0 {
		return out, s.latestHeartbeats(ctx, nil, out)
	}
	for chunk := range slices.Chunk(hostNames, MaxBatch) {
		if err := s.latestHeartbeats(ctx, chunk, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// latestHeartbeats adds the latest heartbeats of names (nil: of every
// host) to out.
func (s *Store) latestHeartbeats(ctx context.Context, names []string, out map[string]*StoredHeartbeat) error {
	where, args := "", make([]any, 0, len(names))
	if len(names) > 0 {
		for _, n := range names {
			args = append(args, strings.ToLower(strings.TrimSpace(n)))
		}
		where = `WHERE h0.name IN (?` + strings.Repeat(`, ?`, len(args)-1) + `)`
	}
	// Per host, the id of its latest row (the (host_id, timestamp_utc)
	// index read backwards, LIMIT 1), then that row by its key: the cost
	// grows with the hosts, not with their history.
	rows, err := s.DB.QueryContext(ctx, `SELECT `+heartbeatColumns+`
FROM (SELECT h0.id AS host_id, (SELECT b0.id FROM lab_host_heartbeat b0 WHERE b0.host_id = h0.id
        ORDER BY b0.timestamp_utc DESC, b0.id DESC LIMIT 1) AS heartbeat_id
      FROM lab_hosts h0 `+where+`) l
JOIN lab_hosts h ON h.id = l.host_id
JOIN lab_host_heartbeat b ON b.id = l.heartbeat_id`, args...)
	if err != nil {
		return fmt.Errorf("latest heartbeats of %d hosts: %w", len(names), err)
	}
	defer rows.Close()
	for rows.Next() {
		hb, err := scanStoredHeartbeat(rows)
		if err != nil {
			return fmt.Errorf("latest heartbeats: %w", err)
		}
		out[hb.Host] = hb
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("latest heartbeats: %w", err)
	}
	return nil
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time.UTC()
	return &v
}

func boolPtr(b sql.NullBool) *bool {
	if !b.Valid {
		return nil
	}
	v := b.Bool
	return &v
}
