package winrm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// negotiates counts the requests that carried an NTLM (Negotiate) header.
func negotiates(h *labsim.Host) int {
	n := 0
	for _, r := range h.Received() {
		if r.AuthScheme == "Negotiate" {
			n++
		}
	}
	return n
}

// Calls to one station with the same credentials share one authenticated
// connection: one TCP connect, one TLS handshake, one NTLM handshake for
// all of them, and four requests per call (Create, Command, Receive,
// Delete) besides the handshake's.
func TestReuse_OneConnectionAcrossCalls(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := newClient(winrm.Config{})
			defer c.Close()
			h.ResetReceived()
			conns0, req0, cmds0 := h.Connections(), h.HTTPRequests(), len(h.Commands())
			const calls = 5
			for i := range calls {
				res, err := runLabStation(context.Background(), c, target(sim, h, m), "status", nil)
				if err != nil || res.ExitCode != 0 {
					t.Fatalf("call %d: %+v, %v", i+1, res, err)
				}
			}
			if got := h.Connections() - conns0; got != 1 {
				t.Errorf("%d connections for %d calls, want 1", got, calls)
			}
			if got := len(h.Commands()) - cmds0; got != calls {
				t.Errorf("the station ran %d commands, want %d", got, calls)
			}
			// The handshake's extra requests: over HTTPS the NEGOTIATE (the
			// AUTHENTICATE carries the first Create); over HTTP both legs
			// are empty POSTs (the sealing session comes after them).
			wantNeg, handshake := 2, int64(1)
			switch {
			case m.transport == winrm.TransportBasic:
				wantNeg, handshake = 0, 0
			case !m.ssl:
				handshake = 2
			}
			if got := negotiates(h); got != wantNeg {
				t.Errorf("%d NTLM handshake requests, want %d (one handshake)", got, wantNeg)
			}
			if got, want := h.HTTPRequests()-req0, handshake+4*calls; got != want {
				t.Errorf("%d requests, want %d (handshake + 4 per call)", got, want)
			}
			if n := c.IdleConnections(); n != 1 {
				t.Errorf("%d idle connections kept, want 1", n)
			}
		})
	}
}

// A kept connection is never used for other credentials: after a call
// authenticated the connection, a call with a wrong password gets its own
// connection and is refused, and the good credentials still find theirs.
func TestReuse_NeverAcrossCredentials(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := newClient(winrm.Config{})
			defer c.Close()
			good := target(sim, h, m)
			bad := good
			bad.Password = "not-" + good.Password
			if _, err := runLabStation(context.Background(), c, good, "status", nil); err != nil {
				t.Fatal(err)
			}
			conns0, cmds0 := h.Connections(), len(h.Commands())
			_, err := runLabStation(context.Background(), c, bad, "status", nil)
			if !errors.Is(err, winrm.ErrUnauthorized) {
				t.Fatalf("wrong password after a good call: err = %v, want ErrUnauthorized", err)
			}
			mustNotLeak(t, err, good.Password, bad.Password)
			if got := h.Connections() - conns0; got != 1 {
				t.Errorf("the wrong password used %d new connections, want 1 of its own", got)
			}
			if _, err := runLabStation(context.Background(), c, good, "status", nil); err != nil {
				t.Fatal(err)
			}
			if got := h.Connections() - conns0; got != 1 {
				t.Errorf("the good credentials did not find their kept connection (%d new connections)", got)
			}
			if got := len(h.Commands()) - cmds0; got != 1 {
				t.Errorf("the station ran %d commands, want 1 (the wrong password's none)", got)
			}
		})
	}
}

// A call that fails or is cancelled does not give its connection back: the
// next call dials a new one.
func TestReuse_NotAfterFailure(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	m := modes[0]
	c := newClient(winrm.Config{})
	defer c.Close()
	if _, err := runLabStation(context.Background(), c, target(sim, h, m), "status", nil); err != nil {
		t.Fatal(err)
	}
	h.SetFaults(labsim.Faults{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := runLabStation(ctx, c, target(sim, h, m), "status", nil)
	cancel()
	if !errors.Is(err, winrm.ErrTimeout) {
		t.Fatalf("hung command: err = %v, want ErrTimeout", err)
	}
	h.SetFaults(labsim.Faults{})
	if err := c.Close(); err != nil { // waits for the background Delete
		t.Fatal(err)
	}
	if n := c.IdleConnections(); n != 0 {
		t.Errorf("%d idle connections after the failed call and Close, want 0", n)
	}
	conns0 := h.Connections()
	if _, err := runLabStation(context.Background(), c, target(sim, h, m), "status", nil); err != nil {
		t.Fatal(err)
	}
	if got := h.Connections() - conns0; got != 1 {
		t.Errorf("%d new connections after the failed call, want 1", got)
	}
}

// A kept connection the station closed while idle (HTTP.sys's keep-alive
// timeout) is noticed and replaced; the command runs once. One the client
// kept past IdleConnTimeout is not used.
func TestReuse_ClosedWhileIdle(t *testing.T) {
	sim := startSim(t, labsim.HostOptions{Name: "short", KeepAliveTimeout: 100 * time.Millisecond},
		labsim.HostOptions{Name: "long"})
	for _, tc := range []struct {
		host string
		cfg  winrm.Config
	}{
		{"short", winrm.Config{}},
		{"long", winrm.Config{IdleConnTimeout: 100 * time.Millisecond}},
	} {
		t.Run(tc.host, func(t *testing.T) {
			h := sim.Host(tc.host)
			c := newClient(tc.cfg)
			defer c.Close()
			for _, m := range modes {
				if _, err := runLabStation(context.Background(), c, target(sim, h, m), "status", nil); err != nil {
					t.Fatalf("%s: %v", m.name, err)
				}
			}
			time.Sleep(300 * time.Millisecond)
			for _, m := range modes {
				conns0, cmds0 := h.Connections(), len(h.Commands())
				res, err := runLabStation(context.Background(), c, target(sim, h, m), "status", nil)
				if err != nil || res.ExitCode != 0 {
					t.Fatalf("%s after the idle connection closed: %+v, %v", m.name, res, err)
				}
				if got := h.Connections() - conns0; got != 1 {
					t.Errorf("%s: %d new connections, want 1", m.name, got)
				}
				if got := len(h.Commands()) - cmds0; got != 1 {
					t.Errorf("%s: the station ran %d commands, want 1", m.name, got)
				}
			}
		})
	}
}

// A station that went to sleep leaves its kept connection open and silent
// (labsim's default, as Windows: no FIN, no RST). The next call does not
// wait the read timeout on it: after DialTimeout without an answer it is
// ErrUnreachable, as a blackholed dial would make it, and the Create it
// sent is not sent again.
func TestReuse_StationAsleep(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	const dial = 400 * time.Millisecond
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h.Wake()
			c := newClient(winrm.Config{DialTimeout: dial, ReadTimeout: 20 * time.Second})
			defer c.Close()
			if _, err := runLabStation(context.Background(), c, target(sim, h, m), "status", nil); err != nil {
				t.Fatal(err)
			}
			h.Sleep()
			start := time.Now()
			_, err := runLabStation(context.Background(), c, target(sim, h, m), "status", nil)
			d := time.Since(start)
			if !errors.Is(err, winrm.ErrUnreachable) {
				t.Fatalf("call to the sleeping station: err = %v, want ErrUnreachable", err)
			}
			if limit := dial + 2*time.Second; d > limit {
				t.Errorf("took %v, want at most %v (not the 20 s read timeout)", d, limit)
			}
		})
	}
}
