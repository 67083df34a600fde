package memsql

import (
	"sync"
	"testing"
)

// TestGate_ReadsDoNotRevertWrites: without the gate about a third of these
// updates are reverted by the readers putting back their copies.
func TestGate_ReadsDoNotRevertWrites(t *testing.T) {
	db := openGateDB(t)
	if _, err := db.Exec(`INSERT INTO t (g, v) VALUES (1, 0)`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n int
				_ = db.QueryRow(`SELECT v FROM t WHERE g = ?`, 1).Scan(&n)
			}
		})
	}
	lost := 0
	for i := 1; i <= 300; i++ {
		if _, err := db.Exec(`UPDATE t SET v = ? WHERE g = 1`, i); err != nil {
			t.Fatal(err)
		}
		var v int
		if err := db.QueryRow(`SELECT v FROM t WHERE g = 1`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != i {
			lost++
		}
	}
	close(stop)
	wg.Wait()
	var v int
	db.QueryRow(`SELECT v FROM t WHERE g = 1`).Scan(&v)
	if v != 300 || lost > 0 {
		t.Fatalf("final value %d (want 300); %d of 300 updates not read back: concurrent reads reverted writes", v, lost)
	}
}
