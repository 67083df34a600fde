package winrm_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/leakcheck"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// TestMain fails the run when goroutines of ours or of the libraries we
// drive (masterzen, net/http, the simulator) are left running after the
// suite: a call abandoned on cancel must not leave its receive loop behind.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, 5*time.Second)) }

// mode is one way of reaching a station.
type mode struct {
	name      string
	ssl       bool
	transport string
}

var modes = []mode{
	{"https-ntlm", true, winrm.TransportNTLM},
	{"https-basic", true, winrm.TransportBasic},
	{"http-ntlm-encrypted", false, winrm.TransportNTLM},
}

func startSim(tb testing.TB, hosts ...labsim.HostOptions) *labsim.Sim {
	tb.Helper()
	if len(hosts) == 0 {
		hosts = []labsim.HostOptions{{Name: "lab-ws-01"}}
	}
	for i := range hosts {
		hosts[i].AllowBasic = true // modes has https-basic; Windows has it off by default
	}
	return labsimtest.Start(tb, hosts...)
}

func target(sim *labsim.Sim, h *labsim.Host, m mode) winrm.Target {
	t := winrm.Target{Address: "127.0.0.1", Port: h.HTTPSPort(), UseSSL: m.ssl, Transport: m.transport,
		User: h.User(), Password: h.Password(), CACertPEM: sim.CACertPEM()}
	if !m.ssl {
		t.Port = h.HTTPPort()
		t.CACertPEM = nil
	}
	return t
}

// exe is where the simulated station keeps LabStation.exe.
const exe = labsim.DefaultLabStationExe

// runLabStation runs `exe command args...` with Run, the line built by
// labstation as lab builds it (an argument that cannot reach the program
// verbatim is refused there, before Run).
func runLabStation(ctx context.Context, c *winrm.Client, t winrm.Target, command string, args []string) (winrm.Result, error) {
	line, err := labstation.CommandLine(exe, command, args)
	if err != nil {
		return winrm.Result{}, err
	}
	return c.Run(ctx, t, line, winrm.RunOptions{Op: "run " + command})
}

func newClient(cfg winrm.Config) *winrm.Client {
	if cfg.OperationTimeout == 0 {
		cfg.OperationTimeout = 5 * time.Second
	}
	return winrm.New(cfg)
}

func mustNotLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
}
