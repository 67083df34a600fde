package scheduler

import (
	"context"
	"database/sql"
	"testing"

	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/store"
)

// A write the server refuses for good (here a duplicate key, as a real
// MariaDB answers it) is tried once, not for the whole persistTimeout
// while the host lock is held.
func TestPersist_PermanentErrorNotRetried(t *testing.T) {
	db, err := sql.Open("mysql", dbtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	s := &Scheduler{Store: permanentOnly{}}
	calls := 0
	err = s.persist(ctx, "duplicate", func(wctx context.Context) error {
		calls++
		_, e := db.ExecContext(wctx, `INSERT INTO t VALUES (1)`)
		return e
	})
	if !store.Permanent(err) || calls != 1 {
		t.Errorf("persist: %v after %d calls; want the duplicate after 1", err, calls)
	}
}

// permanentOnly is a Store that only classifies errors, as the store does.
type permanentOnly struct{ Store }

func (permanentOnly) IsPermanentError(err error) bool { return store.Permanent(err) }
