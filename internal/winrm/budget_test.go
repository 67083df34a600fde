package winrm_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// A station whose answer never ends outside its body (an endless header,
// endless chunked trailers) costs the client its answer budget, not what
// the station sends (issue 15: a 512 MiB header line grew one call to
// 2.4 GB). The station stops at 256 MiB, so that a client without the
// budget still gets to the end of the answer and fails this test on its
// heap instead of running out of memory.
func TestHostile_EndlessHeaderAndTrailers(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	c := hostileClient()
	const endless = 256 << 20
	rogues := []struct {
		name  string
		rogue labsim.Rogue
		want  string // in the error: what stopped the answer
	}{
		// An NTLM client's first request is its NEGOTIATE; Basic's is the
		// Create.
		{"endless header", labsim.Rogue{EndlessHeader: true, EndlessBytes: endless}, "exceed 64 KiB"},
		// net/http reads trailers only when their end shows within the
		// bufio.Reader's buffer (8 KiB), and says so before the budget
		// would.
		{"endless trailers", labsim.Rogue{EndlessTrailers: true, EndlessBytes: endless}, "suspiciously long trailer"},
	}
	for _, m := range modes {
		for _, r := range rogues {
			t.Run(m.name+"/"+r.name, func(t *testing.T) {
				_ = c.Close() // background clean-ups of earlier cases end first
				h.SetRogue(r.rogue)
				defer h.SetRogue(labsim.Rogue{})
				err := failsUnderHeapBound(t, r.want, func() error {
					_, err := c.Run(context.Background(), target(sim, h, m), `C:\LabStation\LabStation.exe status`, winrm.RunOptions{})
					return err
				})
				mustNotLeak(t, err, h.Password())
			})
		}
	}
	h.SetRogue(labsim.Rogue{})
	for _, m := range modes {
		if _, err := c.Run(context.Background(), target(sim, h, m), `C:\LabStation\LabStation.exe status`, winrm.RunOptions{}); err != nil {
			t.Fatalf("%s: honest station after the rogue answers: %v", m.name, err)
		}
	}
	mustNotLeakSOAP(t, h)
}

// Kerberos reads its answers with net/http, whose MaxResponseHeaderBytes
// (64 KiB, newHTTPTransport) and trailer check bound the same rogue
// answers: every transport stays under the bound.
func TestKerberos_EndlessHeaderAndTrailers(t *testing.T) {
	l := startKrbLab(t)
	c := newClient(winrm.Config{Krb5Conf: l.kdc.Krb5Conf, OperationTimeout: 2 * time.Second, CommandTimeout: 3 * time.Second})
	defer c.Close()
	for _, r := range []struct {
		name  string
		rogue labsim.Rogue
		want  string
	}{
		{"endless header", labsim.Rogue{EndlessHeader: true}, "headers exceeded 65536 bytes"},
		// On the Command: the Create's answer must carry the AP-REP.
		{"endless trailers", labsim.Rogue{Action: "shell/Command", EndlessTrailers: true}, "suspiciously long trailer"},
	} {
		t.Run(r.name, func(t *testing.T) {
			_ = c.Close()
			l.host.SetRogue(r.rogue)
			defer l.host.SetRogue(labsim.Rogue{})
			failsUnderHeapBound(t, r.want, func() error {
				_, err := c.Run(context.Background(), l.target(labsim.DefaultUser, krbPassword), `C:\LabStation\LabStation.exe status`, winrm.RunOptions{})
				return err
			})
		})
	}
}

// failsUnderHeapBound runs call, which must fail with ErrProtocol saying
// want, and asserts what it cost the process: HeapInuse grown by at most
// 32 MiB, at most 64 MiB allocated in all (the simulator streams from one
// 32 KiB block in the same process, and -race adds some: the slack).
func failsUnderHeapBound(t *testing.T, want string, call func() error) error {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := call()
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	heap := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("err = %v; TotalAlloc +%d MiB, HeapInuse %+d MiB", err, alloc>>20, heap>>20)
	if !errors.Is(err, winrm.ErrProtocol) || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want ErrProtocol, %q", err, want)
	}
	if heap > 32<<20 || alloc > 64<<20 {
		t.Errorf("HeapInuse %+d MiB, TotalAlloc +%d MiB: over 32 / 64 MiB", heap>>20, alloc>>20)
	}
	return err
}
