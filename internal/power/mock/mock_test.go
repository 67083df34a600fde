package mock

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/power"
)

var _ power.Driver = (*Driver)(nil)

func TestPersistence(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pdu.json")
	d, err := New(Config{Outlets: 4, StatePath: path})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := d.Set(ctx, "2", power.StateOn); err != nil || st.State != power.StateOn {
		t.Fatalf("Set = %+v, %v", st, err)
	}
	if st, err := d.Cycle(ctx, "3", time.Millisecond); err != nil || st.State != power.StateOn {
		t.Fatalf("Cycle = %+v, %v", st, err)
	}
	// A second instance on the same file sees the state.
	d2, err := New(Config{Outlets: 4, StatePath: path})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := d2.Outlets(ctx)
	if err != nil || len(outs) != 4 || outs[0].State != power.StateOff || outs[1].State != power.StateOn || outs[2].State != power.StateOn || outs[3].State != power.StateOff {
		t.Fatalf("after New: %+v, %v", outs, err)
	}
	// In memory: nothing persists.
	m, _ := New(Config{})
	_, _ = m.Set(ctx, "1", power.StateOn)
	m2, _ := New(Config{})
	if outs, _ := m2.Outlets(ctx); outs[0].State != power.StateOff || len(outs) != DefaultOutlets {
		t.Fatalf("memory strip: %+v", outs)
	}
	// A corrupt file is a config error, not a silent reset.
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{StatePath: path}); power.CodeOf(err) != power.CodeConfig {
		t.Fatalf("corrupt state: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"outlets":{"1":"maybe"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{StatePath: path}); power.CodeOf(err) != power.CodeConfig {
		t.Fatalf("bad state value: %v", err)
	}
}

func TestFaultsAndDelay(t *testing.T) {
	ctx := context.Background()
	d, err := New(Config{Outlets: 2, Faults: Faults{Code: power.CodeUnreachable, Ops: []string{"set"}, Outlets: []string{"2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Set(ctx, "1", power.StateOn); err != nil {
		t.Fatalf("outlet 1: %v", err)
	}
	if _, err := d.Set(ctx, "2", power.StateOn); power.CodeOf(err) != power.CodeUnreachable {
		t.Fatalf("outlet 2: %v", err)
	}
	if _, err := d.Set(ctx, "3", power.StateOn); power.CodeOf(err) != power.CodeOutletUnknown {
		t.Fatalf("outlet 3: %v", err)
	}
	if err := d.SetFaults(Faults{Stuck: true}); err != nil {
		t.Fatal(err)
	}
	if st, err := d.Set(ctx, "2", power.StateOn); power.CodeOf(err) != power.CodeReadBackMismatch || st.State != power.StateOff {
		t.Fatalf("stuck: %+v, %v", st, err)
	}
	if err := d.SetFaults(Faults{Code: "nope"}); power.CodeOf(err) != power.CodeConfig {
		t.Fatalf("unknown code: %v", err)
	}
	slow, _ := New(Config{Delay: time.Second})
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := slow.Outlets(cctx); power.CodeOf(err) != power.CodeUnreachable {
		t.Fatalf("delay past the deadline: %v", err)
	}
	for _, cfg := range []Config{{Outlets: -1}, {Outlets: 1000}, {Delay: -1}, {Faults: Faults{Ops: []string{"x"}}}} {
		if _, err := New(cfg); power.CodeOf(err) != power.CodeConfig {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}
