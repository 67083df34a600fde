package winrm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	mzwinrm "github.com/masterzen/winrm"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// How the NTLM transports handle a station that drops, refuses or
// re-authenticates connections, and channel binding.

// A 401 to a Command on the connection NTLM authenticated may come after
// the station ran it: the client must not send it again.
func TestNTLM_NoResendAfterProcessing(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	c := hostileClient()
	h.SetRogue(labsim.Rogue{Action: "shell/Command", UnauthorizedAfterProcessing: true})
	defer h.SetRogue(labsim.Rogue{})
	for _, m := range []mode{modes[0], modes[2]} {
		t.Run(m.name, func(t *testing.T) {
			before := len(h.Commands())
			_, err := c.Run(context.Background(), target(sim, h, m), `C:\LabStation\LabStation.exe status`, winrm.RunOptions{})
			if !errors.Is(err, winrm.ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
			if got := len(h.Commands()) - before; got != 1 {
				t.Fatalf("the station ran the command %d times, want once", got)
			}
		})
	}
	mustNotLeakSOAP(t, h)
}

// A station that closes the connection after an answer (an idle keep-alive
// timeout) gets the next message on a new connection, where it refuses it
// unread with a 401: that one is sent again after a new handshake, and the
// command runs once.
func TestNTLM_ResendOnNewConnection(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	c := hostileClient()
	h.SetRogue(labsim.Rogue{Action: "transfer/Create", CloseConnection: true})
	defer h.SetRogue(labsim.Rogue{})
	for _, m := range []mode{modes[0], modes[2]} {
		t.Run(m.name, func(t *testing.T) {
			h.ResetReceived()
			before := len(h.Commands())
			res, err := c.Run(context.Background(), target(sim, h, m), `C:\LabStation\LabStation.exe status`, winrm.RunOptions{})
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("Run = %+v, %v", res, err)
			}
			if got := len(h.Commands()) - before; got != 1 {
				t.Fatalf("the station ran the command %d times, want once", got)
			}
			negotiates := 0
			for _, r := range h.Received() {
				if r.AuthScheme == "Negotiate" {
					negotiates++
				}
			}
			if negotiates != 4 { // NEGOTIATE + AUTHENTICATE, twice
				t.Errorf("%d Negotiate requests, want 4", negotiates)
			}
		})
	}
	mustNotLeakSOAP(t, h)
}

// A station that closes the connection after its CHALLENGE ("Connection:
// close") breaks the handshake, which carries no SOAP: the client runs one
// fresh handshake on a new connection, and the command runs once. Two
// dropped connections in a row are a clear ErrProtocol, and nothing ran.
func TestNTLM_AuthenticateOnNewConnection(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	c := hostileClient()
	tg := target(sim, h, modes[0])
	const exe = `C:\LabStation\LabStation.exe status`
	before := len(h.Commands())
	h.DropAfterChallenge(1)
	res, err := c.Run(context.Background(), tg, exe, winrm.RunOptions{})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run after one dropped challenge connection = %+v, %v", res, err)
	}
	if got := len(h.Commands()) - before; got != 1 {
		t.Fatalf("the station ran the command %d times, want once", got)
	}
	h.DropAfterChallenge(2)
	c.CloseIdleConnections() // else the next call reuses the authenticated connection
	before = len(h.Commands())
	_, err = c.Run(context.Background(), tg, exe, winrm.RunOptions{})
	if !errors.Is(err, winrm.ErrProtocol) {
		t.Fatalf("two dropped challenge connections: err = %v, want ErrProtocol", err)
	}
	if got := len(h.Commands()) - before; got != 0 {
		t.Fatalf("the station ran %d commands, want none", got)
	}
	mustNotLeak(t, err, h.Password())
}

// NTLM over HTTPS works with a station whose CbtHardeningLevel is Strict
// (labsim's default), and the check is real: a client sending no channel
// binding (masterzen's own NTLM, Azure/go-ntlmssp) is refused.
func TestNTLM_StrictChannelBinding(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	h.SetCBT(labsim.CBTStrict)
	defer h.SetCBT(labsim.CBTStrict)
	res, err := newClient(winrm.Config{}).Run(context.Background(), target(sim, h, modes[0]), `C:\LabStation\LabStation.exe status`, winrm.RunOptions{})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run with Strict CBT = %+v, %v", res, err)
	}
	noCBT := func() error {
		ep := mzwinrm.NewEndpoint("127.0.0.1", h.HTTPSPort(), true, false, sim.CACertPEM(), nil, nil, 10*time.Second)
		params := mzwinrm.NewParameters("PT5S", "en-US", 153600)
		params.TransportDecorator = func() mzwinrm.Transporter { return &mzwinrm.ClientNTLM{} }
		c, err := mzwinrm.NewClientWithParameters(ep, h.User(), h.Password(), params)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _, _, err = c.RunCmdWithContext(ctx, `C:\LabStation\LabStation.exe status`)
		return err
	}
	if err := noCBT(); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("NTLM without channel binding against Strict: err = %v, want a 401", err)
	}
	h.SetCBT(labsim.CBTNone)
	if err := noCBT(); err != nil {
		t.Errorf("NTLM without channel binding, CBT check off: %v", err)
	}
}
