package labsim_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/masterzen/winrm"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

const labStation = `C:\LabStation\LabStation.exe`

func mustStart(tb testing.TB, hosts ...labsim.HostOptions) *labsim.Sim {
	tb.Helper()
	if len(hosts) == 0 {
		hosts = []labsim.HostOptions{{}}
	}
	for i := range hosts {
		// These tests drive masterzen's own transports: Basic (off by
		// default, as on Windows) and NTLM without channel binding
		// (Azure/go-ntlmssp sends none; the default CBTStrict refuses it).
		hosts[i].AllowBasic = true
		hosts[i].CBT = labsim.CBTNone
	}
	sim, err := labsim.Start(context.Background(), labsim.Options{Hosts: hosts})
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() {
		if err := sim.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return sim
}

type transport int

const (
	httpsBasic transport = iota
	httpsNTLM
	httpNTLMEncrypted
)

func (t transport) String() string {
	return [...]string{"https+basic", "https+ntlm", "http+ntlm-encryption"}[t]
}

func newClient(tb testing.TB, sim *labsim.Sim, h *labsim.Host, tr transport, password, opTimeout string) *winrm.Client {
	tb.Helper()
	var ep *winrm.Endpoint
	if tr == httpNTLMEncrypted {
		ep = winrm.NewEndpoint("127.0.0.1", h.HTTPPort(), false, false, nil, nil, nil, 10*time.Second)
	} else {
		ep = winrm.NewEndpoint("127.0.0.1", h.HTTPSPort(), true, false, sim.CACertPEM(), nil, nil, 10*time.Second)
	}
	params := winrm.NewParameters(opTimeout, "en-US", 153600)
	switch tr {
	case httpsNTLM:
		params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	case httpNTLMEncrypted:
		params.TransportDecorator = func() winrm.Transporter {
			enc, err := winrm.NewEncryption("ntlm")
			if err != nil {
				tb.Fatalf("NewEncryption: %v", err)
			}
			return enc
		}
	}
	c, err := winrm.NewClientWithParameters(ep, h.User(), password, params)
	if err != nil {
		tb.Fatalf("NewClientWithParameters: %v", err)
	}
	return c
}

func run(tb testing.TB, c *winrm.Client, cmd string) (stdout, stderr string, code int, err error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.RunCmdWithContext(ctx, cmd)
}

func TestWinRM_Transports(t *testing.T) {
	sim := mustStart(t)
	h := sim.Hosts()[0]
	for _, tr := range []transport{httpsBasic, httpsNTLM, httpNTLMEncrypted} {
		t.Run(tr.String(), func(t *testing.T) {
			c := newClient(t, sim, h, tr, h.Password(), "PT20S")
			line := labStation + ` power shutdown --delay=3600 "--reason=Reservation completed"`
			out, errOut, code, err := run(t, c, line)
			if err != nil {
				t.Fatalf("run: %v (stderr %q)", err, errOut)
			}
			if code != 0 {
				t.Fatalf("exit code: got %d, want 0 (stderr %q)", code, errOut)
			}
			if !strings.Contains(out, "Scheduled shutdown in 3600 s. Reason: Reservation completed") {
				t.Errorf("stdout: got %q", out)
			}
			recs := h.Commands()
			last := recs[len(recs)-1]
			if last.CommandLine != line {
				t.Errorf("CommandLine: got %q, want %q", last.CommandLine, line)
			}
			want := []string{labStation, "power", "shutdown", "--delay=3600", "--reason=Reservation completed"}
			if strings.Join(last.Args, "|") != strings.Join(want, "|") {
				t.Errorf("Args: got %q, want %q", last.Args, want)
			}
			if last.ExitCode != 0 {
				t.Errorf("record ExitCode: got %d, want 0", last.ExitCode)
			}
		})
	}
}

func TestWinRM_WrongPassword(t *testing.T) {
	sim := mustStart(t)
	h := sim.Hosts()[0]
	for _, tr := range []transport{httpsBasic, httpsNTLM, httpNTLMEncrypted} {
		t.Run(tr.String(), func(t *testing.T) {
			c := newClient(t, sim, h, tr, "not-the-password", "PT20S")
			_, _, _, err := run(t, c, labStation+" status")
			if err == nil {
				t.Fatal("run with a wrong password: got no error")
			}
			if !strings.Contains(err.Error(), "401") {
				t.Errorf("error: got %v, want an HTTP 401", err)
			}
			if n := len(h.Commands()); n != 0 {
				t.Errorf("commands recorded: got %d, want 0", n)
			}
		})
	}
}

func TestWinRM_UntrustedCA(t *testing.T) {
	sim := mustStart(t)
	other := mustStart(t)
	h := sim.Hosts()[0]
	ep := winrm.NewEndpoint("127.0.0.1", h.HTTPSPort(), true, false, other.CACertPEM(), nil, nil, 5*time.Second)
	c, err := winrm.NewClientWithParameters(ep, h.User(), h.Password(), winrm.NewParameters("PT5S", "en-US", 153600))
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = run(t, c, labStation+" status")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("run against an untrusted CA: got %v, want a certificate error", err)
	}
}

func TestWinRM_PlainHTTPRefusesUnencrypted(t *testing.T) {
	sim := mustStart(t)
	h := sim.Hosts()[0]
	ep := winrm.NewEndpoint("127.0.0.1", h.HTTPPort(), false, false, nil, nil, nil, 5*time.Second)
	params := winrm.NewParameters("PT5S", "en-US", 153600)
	params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	c, err := winrm.NewClientWithParameters(ep, h.User(), h.Password(), params)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = run(t, c, labStation+" status")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("unencrypted NTLM on plain HTTP: got %v, want HTTP 401", err)
	}
}

func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

func dialRefused(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", itoa(port)), time.Second)
	if err == nil {
		_ = c.Close()
		return false
	}
	return isRefused(err)
}

// dialNoAnswer reports whether a dial to the port waits until its
// timeout, as with a sleeping host that ignores the SYN.
func dialNoAnswer(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", itoa(port)), 300*time.Millisecond)
	if err == nil {
		_ = c.Close()
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestWinRM_UserForms(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{Name: "lab-ws-01"})
	h := sim.Hosts()[0]
	tests := []struct {
		tr   transport
		user string
	}{
		{httpsBasic, `LAB-WS-01\LabGatewaySvc`},
		{httpsNTLM, `.\LabGatewaySvc`},
		{httpsNTLM, `labgatewaysvc`},
		{httpNTLMEncrypted, `LAB-WS-01\LabGatewaySvc`},
	}
	for _, tc := range tests {
		t.Run(tc.tr.String()+" "+tc.user, func(t *testing.T) {
			ep := winrm.NewEndpoint("127.0.0.1", h.HTTPSPort(), true, false, sim.CACertPEM(), nil, nil, 5*time.Second)
			params := winrm.NewParameters("PT5S", "en-US", 153600)
			switch tc.tr {
			case httpsNTLM:
				params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
			case httpNTLMEncrypted:
				ep = winrm.NewEndpoint("127.0.0.1", h.HTTPPort(), false, false, nil, nil, nil, 5*time.Second)
				params.TransportDecorator = func() winrm.Transporter { e, _ := winrm.NewEncryption("ntlm"); return e }
			}
			c, err := winrm.NewClientWithParameters(ep, tc.user, h.Password(), params)
			if err != nil {
				t.Fatal(err)
			}
			_, errOut, code, err := run(t, c, labStation+" status")
			if err != nil || code != 0 {
				t.Fatalf("code %d err %v stderr %q", code, err, errOut)
			}
		})
	}
}

func TestSleep_EndsHungReceive(t *testing.T) {
	// Refusing, so that masterzen's context-less shell Close after the
	// failed Receive fails at once too; a blackholed host keeps that dial
	// waiting (see TestSleep_Blackhole).
	sim := mustStart(t, labsim.HostOptions{SleepMode: labsim.SleepRefuse})
	h := sim.Hosts()[0]
	h.SetFaults(labsim.Faults{Hang: true})
	c := newClient(t, sim, h, httpsNTLM, h.Password(), "PT30S")
	done := make(chan error, 1)
	go func() {
		_, _, _, err := run(t, c, labStation+" status")
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	h.Sleep()
	select {
	case err := <-done:
		if err == nil {
			t.Error("hung command on a host that went to sleep: got no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client still waiting 10s after the host went to sleep")
	}
	if !dialRefused(h.HTTPSPort()) {
		t.Error("port accepts connections after Sleep")
	}
}

func TestWinRM_AllowUnencrypted(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{AllowUnencrypted: true})
	h := sim.Hosts()[0]
	for _, ntlm := range []bool{false, true} {
		ep := winrm.NewEndpoint("127.0.0.1", h.HTTPPort(), false, false, nil, nil, nil, 5*time.Second)
		params := winrm.NewParameters("PT5S", "en-US", 153600)
		if ntlm {
			params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
		}
		c, err := winrm.NewClientWithParameters(ep, h.User(), h.Password(), params)
		if err != nil {
			t.Fatal(err)
		}
		if _, errOut, code, err := run(t, c, labStation+" status"); err != nil || code != 0 {
			t.Errorf("ntlm=%v: code %d err %v stderr %q", ntlm, code, err, errOut)
		}
	}
}
