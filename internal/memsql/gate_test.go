package memsql

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func openGateDB(t *testing.T) *sql.DB {
	t.Helper()
	s, err := Start(context.Background(), "gate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := mysql.NewConnector(s.Config())
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, g INT, v INT)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestGate_ConcurrentWritesAllKept: without the gate the memory engine
// keeps about two thirds of these rows (each writer puts back its own copy
// of the table).
func TestGate_ConcurrentWritesAllKept(t *testing.T) {
	db := openGateDB(t)
	const writers, each = 3, 150
	var wg sync.WaitGroup
	for g := range writers + 2 {
		wg.Go(func() {
			for i := range each {
				var err error
				switch g {
				case writers: // an update matching nothing, as a claim scan does
					_, err = db.Exec(`UPDATE t SET v = v + 1 WHERE g = 99`)
				case writers + 1: // a transaction, as store.inTx runs one
					err = inTx(db, func(tx *sql.Tx) error {
						_, err := tx.Exec(`INSERT INTO t (g, v) VALUES (?, ?)`, g, i)
						return err
					})
				default:
					_, err = db.Exec(`INSERT INTO t (g, v) VALUES (?, ?)`, g, i)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := (writers + 1) * each; n != want {
		t.Fatalf("rows = %d, want %d: concurrent writes were lost", n, want)
	}
}

func inTx(db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// TestGate_LockWaiterDoesNotBlockHolder: a session waiting in GET_LOCK
// holds no gate, so the lock's holder can still write and release it.
func TestGate_LockWaiterDoesNotBlockHolder(t *testing.T) {
	db := openGateDB(t)
	ctx := context.Background()
	holder, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	var got int
	if err := holder.QueryRowContext(ctx, `SELECT GET_LOCK('h', 1)`).Scan(&got); err != nil || got != 1 {
		t.Fatalf("GET_LOCK = %d, %v", got, err)
	}
	waited := make(chan error, 1)
	go func() {
		var got int
		err := db.QueryRowContext(ctx, `SELECT GET_LOCK('h', 10)`).Scan(&got)
		waited <- err
	}()
	time.Sleep(100 * time.Millisecond) // the waiter is inside GET_LOCK
	if _, err := holder.ExecContext(ctx, `INSERT INTO t (g, v) VALUES (1, 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, `SELECT RELEASE_LOCK('h')`); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter did not get the lock")
	}
}

// TestGate_AbandonedTransactionFreesTheGate: a connection closed inside a
// transaction gives the gate back.
func TestGate_AbandonedTransactionFreesTheGate(t *testing.T) {
	db := openGateDB(t)
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(ctx, `START TRANSACTION`); err != nil {
		t.Fatal(err)
	}
	c.Raw(func(any) error { return mysql.ErrInvalidConn }) //nolint:errcheck // drops the connection
	c.Close()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := db.ExecContext(wctx, `INSERT INTO t (g, v) VALUES (1, 1)`); err != nil {
		t.Fatalf("write after an abandoned transaction: %v", err)
	}
}

func TestStatementKind(t *testing.T) {
	for q, want := range map[string]stmtKind{
		"INSERT INTO t VALUES (1)": kindOther, "  update t set v=1": kindOther, "SELECT 1": kindOther,
		"START TRANSACTION": kindBegin, "begin": kindBegin, "/* c */ BEGIN": kindBegin, "-- c\nSTART TRANSACTION": kindBegin,
		"COMMIT": kindEnd, "rollback": kindEnd,
		"SELECT GET_LOCK(?, ?)": kindLock, "select release_lock('a')": kindLock, "SELECT IS_FREE_LOCK('a')": kindLock,
		"SELECT GET_LOCK('a', 1) FROM t": kindOther, "": kindOther, "/* unterminated": kindOther,
	} {
		if got := statementKind(q); got != want {
			t.Errorf("statementKind(%q) = %d, want %d", q, got, want)
		}
	}
}
