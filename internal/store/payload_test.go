package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/store"
)

// chattyFlow is a scheduler:end payload whose release step printed 4 MiB
// of characters JSON escapes to six bytes each: 24 MiB as marshalled, past
// MariaDB's default max_allowed_packet of 16 MiB.
func chattyFlow(t testing.TB) json.RawMessage {
	t.Helper()
	out := strings.Repeat("<>&", 4<<20/3)
	b, err := json.Marshal(map[string]any{"status_code": 200, "response": map[string]any{
		"ok": true, "steps": []any{map[string]any{"action": "release", "success": true,
			"details": map[string]any{"stdout": out, "stderr": out[:1<<20], "exitCode": 0, "args": []string{"--reboot"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 16<<20 {
		t.Fatalf("payload %d bytes: not past the server's packet limit", len(b))
	}
	return b
}

func TestBoundPayload(t *testing.T) {
	small := json.RawMessage(`{"stdout": "ok",  "n": 1.50}`)
	if got := store.BoundPayload(small); string(got) != string(small) {
		t.Errorf("small payload changed: %s", got)
	}
	fits := json.RawMessage(`{"stdout":"` + strings.Repeat("x", store.MaxStoredText) + `", "n": 1.50}`)
	if got := store.BoundPayload(fits); string(got) != string(fits) {
		t.Error("payload within both caps was rewritten")
	}

	got := store.BoundPayload(chattyFlow(t))
	if len(got) > store.MaxPayloadBytes || !json.Valid(got) {
		t.Fatalf("bounded payload: %d bytes, valid %v", len(got), json.Valid(got))
	}
	var pl struct {
		StatusCode json.Number `json:"status_code"`
		Response   struct {
			OK    bool `json:"ok"`
			Steps []struct {
				Action  string         `json:"action"`
				Details map[string]any `json:"details"`
			} `json:"steps"`
		} `json:"response"`
	}
	if err := json.Unmarshal(got, &pl); err != nil {
		t.Fatal(err)
	}
	d := pl.Response.Steps[0].Details
	stdout, _ := d["stdout"].(string)
	if pl.StatusCode != "200" || !pl.Response.OK || pl.Response.Steps[0].Action != "release" ||
		len(stdout) == 0 || len(stdout) > store.MaxStoredText || !strings.HasPrefix(stdout, "<>&") ||
		d["stdoutTruncated"] != true || d["stderrTruncated"] != true || d["exitCode"] != float64(0) {
		t.Errorf("bounded payload lost its shape: status %s ok %v details stdout %d bytes, %v", pl.StatusCode,
			pl.Response.OK, len(stdout), d["stdoutTruncated"])
	}

	// Multi-byte runes: the cut falls on a boundary.
	b, _ := json.Marshal(map[string]string{"stdout": strings.Repeat("é", store.MaxStoredText)})
	var m map[string]any
	if err := json.Unmarshal(store.BoundPayload(b), &m); err != nil || !strings.HasSuffix(m["stdout"].(string), "é") {
		t.Errorf("rune cut: %v", err)
	}

	// Many short strings: cut shorter, and at last summarized.
	many := make([]string, 40000)
	for i := range many {
		many[i] = strings.Repeat("a", 100)
	}
	b, _ = json.Marshal(map[string]any{"lines": many})
	got = store.BoundPayload(b)
	if len(got) > store.MaxPayloadBytes || !json.Valid(got) {
		t.Errorf("many strings: %d bytes", len(got))
	}
	nums := make([]int, 100000)
	for i := range nums {
		nums[i] = 12345
	}
	b, _ = json.Marshal(nums)
	if got := store.BoundPayload(b); string(got) != `{"payloadTruncated":true,"payloadBytes":`+itoa(len(b))+`}` {
		t.Errorf("numbers: %.200s", got)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// A payload past the server's max_allowed_packet is stored bounded: before
// the cap, the write failed (and was retried for 30 s, then lost).
func TestRecordOperation_BoundsPayload(t *testing.T) {
	s, _ := MustOpenDB(t)
	ctx := context.Background()
	id, err := s.RecordOperation(ctx, store.Operation{ReservationID: "r-chatty", Action: "scheduler:end",
		Status: "completed", Success: true, Payload: chattyFlow(t), Key: store.NewOperationKey()})
	if err != nil {
		t.Fatalf("record: %v", err)
	}
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT LENGTH(payload) FROM reservation_operations WHERE id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > store.MaxPayloadBytes {
		t.Errorf("stored payload %d bytes, over %d", n, store.MaxPayloadBytes)
	}
	ops, _, err := s.ListOperations(ctx, "r-chatty", 10, 0)
	if err != nil || len(ops) != 1 || !json.Valid(ops[0].Payload) {
		t.Fatalf("read back: %v %d", err, len(ops))
	}
}

// Permanent, on errors the real server gives (and the driver's own
// packet check); connection failures are not permanent.
func TestPermanent_RealErrors(t *testing.T) {
	dsn := dbtest.NewDatabase(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, q := range []string{
		`SET SESSION sql_mode = 'STRICT_TRANS_TABLES'`,
		`CREATE TABLE p (id INT PRIMARY KEY, name VARCHAR(4)) ENGINE=InnoDB`,
		`CREATE TABLE c (id INT PRIMARY KEY, p INT NOT NULL, FOREIGN KEY (p) REFERENCES p (id)) ENGINE=InnoDB`,
		`INSERT INTO p VALUES (1, 'a')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET SESSION sql_mode = 'STRICT_TRANS_TABLES'`); err != nil {
		t.Fatal(err)
	}
	permanent := map[uint16]string{
		1062: `INSERT INTO p VALUES (1, 'b')`,
		1064: `INSERT INTO p VALUES (`,
		1452: `INSERT INTO c VALUES (1, 99)`,
		1406: `INSERT INTO p VALUES (2, 'toolong')`,
		1366: `INSERT INTO p VALUES ('x', 'a')`,
		1048: `INSERT INTO c VALUES (3, NULL)`,
	}
	for num, q := range permanent {
		_, err := conn.ExecContext(ctx, q)
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != num {
			t.Errorf("%s: got %v, want error %d", q, err, num)
			continue
		}
		if !store.Permanent(err) || !store.Permanent(errors.Join(errors.New("record"), err)) {
			t.Errorf("Permanent(%v) = false", err)
		}
	}

	// A statement over the server's max_allowed_packet (the driver's own
	// limit, 64 MiB, lets it go): the server refuses it with 1153.
	var maxPacket int
	if err := db.QueryRowContext(ctx, `SELECT @@max_allowed_packet`).Scan(&maxPacket); err != nil {
		t.Fatal(err)
	}
	if maxPacket < 60<<20 {
		_, err = db.ExecContext(ctx, `INSERT INTO p VALUES (3, ?)`, strings.Repeat("a", maxPacket+1024))
		t.Logf("over max_allowed_packet %d: %v", maxPacket, err)
		if !store.Permanent(err) {
			t.Errorf("packet too large: Permanent(%v) = false", err)
		}
	}
	// The driver's own check, before anything is sent.
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxAllowedPacket = 4096
	small, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	_, err = small.ExecContext(ctx, `SELECT '`+strings.Repeat("a", 8192)+`'`)
	if !errors.Is(err, mysql.ErrPktTooLarge) || !store.Permanent(err) {
		t.Errorf("driver packet check: %v, Permanent %v", err, store.Permanent(err))
	}

	// Not permanent: a killed connection, a deadlock-free ordinary success.
	var id int64
	if err := conn.QueryRowContext(ctx, `SELECT CONNECTION_ID()`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `KILL ?`, id); err != nil {
		t.Fatal(err)
	}
	_, err = conn.ExecContext(ctx, `SELECT 1`)
	if err == nil || store.Permanent(err) || !store.IsConnectionError(err) {
		t.Errorf("killed connection: %v, Permanent %v", err, store.Permanent(err))
	}
	if store.Permanent(nil) || store.Permanent(context.DeadlineExceeded) {
		t.Error("Permanent of nil or a deadline")
	}
}
