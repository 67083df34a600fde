package winrm_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// Hostile stations (issue 6): whatever a station answers, the client
// returns a typed error, never panics, never sends SOAP unsealed over plain
// HTTP and stays within its memory cap.

const maxResponse = 8 << 20 // winrm's cap on one answer

var errKinds = []error{winrm.ErrUnauthorized, winrm.ErrAuthMethod, winrm.ErrCertificate, winrm.ErrUnreachable,
	winrm.ErrTimeout, winrm.ErrCanceled, winrm.ErrConfig, winrm.ErrEncryption,
	winrm.ErrProtocol}

func mustBeTyped(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	for _, k := range errKinds {
		if errors.Is(err, k) {
			return
		}
	}
	t.Fatalf("untyped error: %v", err)
}

// mustNotLeakSOAP asserts labsim's record: no SOAP envelope ever arrived
// readable on the plain-HTTP listener.
func mustNotLeakSOAP(t *testing.T, h *labsim.Host) {
	t.Helper()
	for i, r := range h.Received() {
		if !r.HTTPS && r.ClearSOAP {
			t.Fatalf("request %d on plain HTTP carried SOAP in clear text (%+v)", i, r)
		}
	}
}

// hostileClient gives up fast: a hostile answer must not hold a call for
// the default 5 s operation timeout.
func hostileClient() *winrm.Client {
	return newClient(winrm.Config{OperationTimeout: 2 * time.Second, CommandTimeout: 3 * time.Second})
}

// sealedPart is the n-byte octet-stream part of case n: a signature length
// of 0 (the panic), of 16, the genuine part cut or padded, or noise.
func sealedPart(n int, genuine []byte, rnd *rand.Rand) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(rnd.Uint32())
	}
	var head [4]byte
	switch n % 4 {
	case 0:
		binary.LittleEndian.PutUint32(head[:], 0)
	case 1:
		binary.LittleEndian.PutUint32(head[:], 16)
	case 2:
		copy(p, genuine)
		return p
	case 3:
		return p
	}
	copy(p, head[:])
	return p
}

func TestHostile_SealedReplyLengths(t *testing.T) {
	// Every refused answer leaves a shell on the station that the client
	// never learnt the id of (as on Windows, where they would pile up
	// until the 2 h idle expiry): no shell quota, or the loop would meet
	// it after 30 calls instead of the answers under test.
	sim := startSim(t, labsim.HostOptions{Name: "lab-ws-01", MaxShellsPerUser: -1})
	h := sim.Host("lab-ws-01")
	c := hostileClient()
	tg := target(sim, h, modes[2])
	rnd := rand.New(rand.NewPCG(6, 6))
	start := time.Now()
	calls := 0
	for _, noEnd := range []bool{false, true} {
		for n := 0; n <= 1100; n++ {
			// Every length also with the exact shape: signature
			// length 0, no closing boundary.
			shapes := []func([]byte) []byte{func(g []byte) []byte { return sealedPart(n, g, rnd) }}
			if noEnd && n%4 != 0 {
				shapes = append(shapes, func([]byte) []byte { return make([]byte, n) })
			}
			for _, shape := range shapes {
				genuine := false
				h.SetRogue(labsim.Rogue{NoClosingBoundary: noEnd, SealedPart: func(g []byte) []byte {
					p := shape(g)
					genuine = bytes.Equal(p, g)
					return p
				}})
				_, err := c.Run(context.Background(), tg, `C:\LabStation\LabStation.exe status`, winrm.RunOptions{})
				calls++
				if genuine {
					// The station's own sealed answer, whole: fine with or
					// without the closing boundary (the signature covers it).
					continue
				}
				if !errors.Is(err, winrm.ErrEncryption) && !errors.Is(err, winrm.ErrProtocol) {
					t.Fatalf("part of %d bytes (no closing boundary %v): err = %v, want ErrEncryption or ErrProtocol", n, noEnd, err)
				}
			}
		}
	}
	// The same on a Receive, which masterzen posts from its own goroutine
	// (where an unrecovered panic ends the process).
	for _, n := range []int{0, 4, 5, 16, 19, 20, 21, 64} {
		h.SetRogue(labsim.Rogue{Action: "shell/Receive", NoClosingBoundary: true, SealedPart: func([]byte) []byte { return make([]byte, n) }})
		_, err := c.Run(context.Background(), tg, `C:\LabStation\LabStation.exe status`, winrm.RunOptions{})
		if !errors.Is(err, winrm.ErrEncryption) && !errors.Is(err, winrm.ErrProtocol) {
			t.Fatalf("Receive answer part of %d bytes: err = %v, want ErrEncryption or ErrProtocol", n, err)
		}
	}
	h.SetRogue(labsim.Rogue{})
	if _, err := c.Run(context.Background(), tg, `C:\LabStation\LabStation.exe status`, winrm.RunOptions{}); err != nil {
		t.Fatalf("honest station after the loop: %v", err)
	}
	mustNotLeakSOAP(t, h)
	t.Logf("%d hostile calls in %v", calls, time.Since(start).Round(time.Millisecond))
}

// A CHALLENGE without any one of the flags sealing needs makes the client
// stop before its AUTHENTICATE message: nothing more reaches the station.
func TestHostile_ChallengeDowngrade(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	c := hostileClient()
	flags := map[string]uint32{"SEAL": labsim.NTLMFlagSeal, "SIGN": labsim.NTLMFlagSign, "KEY_EXCH": labsim.NTLMFlagKeyExch,
		"128": labsim.NTLMFlag128, "ESS": labsim.NTLMFlagESS, "SEAL+SIGN": labsim.NTLMFlagSeal | labsim.NTLMFlagSign}
	for name, f := range flags {
		t.Run(name, func(t *testing.T) {
			h.SetRogue(labsim.Rogue{ChallengeClearFlags: f})
			defer h.SetRogue(labsim.Rogue{})
			h.ResetReceived()
			before := len(h.Commands())
			_, err := c.Run(context.Background(), target(sim, h, modes[2]), `C:\LabStation\LabStation.exe status`, winrm.RunOptions{})
			if !errors.Is(err, winrm.ErrEncryption) {
				t.Fatalf("err = %v, want ErrEncryption", err)
			}
			if !strings.Contains(err.Error(), "does not offer") {
				t.Errorf("err = %v, want it to name the missing flags", err)
			}
			got := h.Received()
			if len(got) != 1 || got[0].BodyLen != 0 {
				t.Errorf("station received %+v, want only the empty NEGOTIATE request", got)
			}
			if len(h.Commands()) != before {
				t.Error("a command ran")
			}
			mustNotLeakSOAP(t, h)
		})
	}
}

func TestHostile_GarbageAndOversize(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	c := hostileClient()
	rnd := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(rnd.Uint32())
	}
	const encCT = `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"`
	rogues := map[string]labsim.Rogue{
		"noise as SOAP":            {Body: noise},
		"noise as encrypted":       {Body: noise, ContentType: encCT},
		"empty encrypted":          {Body: []byte{}, ContentType: encCT},
		"broken XML":               {Body: []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><rsp:Shell>`)},
		"oversize on Create":       {Oversize: 64 << 20},
		"oversize on Receive":      {Action: "shell/Receive", Oversize: 64 << 20},
		"noise on Receive":         {Action: "shell/Receive", Body: noise, ContentType: encCT},
		"noise as SOAP on Receive": {Action: "shell/Receive", Body: noise},
		"broken XML on Receive":    {Action: "shell/Receive", Body: []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>`)},
		"not XML on Command":       {Action: "shell/Command", Body: []byte("{}")},
		"oversize noise as text":   {Oversize: maxResponse + 1, ContentType: "text/plain"},
	}
	for _, m := range []mode{modes[0], modes[2]} {
		for name, r := range rogues {
			t.Run(m.name+"/"+name, func(t *testing.T) {
				// The shell an earlier case left is deleted in the
				// background: let that finish first, or its request would
				// meet this case's rogue answer (and its allocations be
				// counted here).
				_ = c.Close()
				h.SetRogue(r)
				defer h.SetRogue(labsim.Rogue{})
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				_, err := c.Run(context.Background(), target(sim, h, m), `C:\LabStation\LabStation.exe status`, winrm.RunOptions{})
				runtime.ReadMemStats(&after)
				mustBeTyped(t, err)
				mustNotLeak(t, err, h.Password())
				if r.Oversize > 0 {
					if !errors.Is(err, winrm.ErrProtocol) || !strings.Contains(err.Error(), "answer over") {
						t.Errorf("err = %v, want ErrProtocol, answer over ...", err)
					}
					// One oversize answer costs about the cap (~9 MiB
					// measured), not what the station sends (64 MiB): the
					// simulator's own allocations are in the same process,
					// and -race adds some, hence the slack.
					alloc := after.TotalAlloc - before.TotalAlloc
					heap := int64(after.HeapInuse) - int64(before.HeapInuse)
					t.Logf("TotalAlloc +%d MiB, HeapInuse %+d MiB", alloc>>20, heap>>20)
					if limit := 2 * maxResponse; alloc > uint64(limit) || heap > int64(limit) {
						t.Errorf("TotalAlloc +%d, HeapInuse %+d: over 2 x %d", alloc, heap, maxResponse)
					}
				}
				if len(err.Error()) > 2048 {
					t.Errorf("error text of %d bytes", len(err.Error()))
				}
			})
		}
	}
	mustNotLeakSOAP(t, h)
}

// A station that answers a byte at a time is cut at the call's time limit.
func TestHostile_SlowDrip(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	c := newClient(winrm.Config{OperationTimeout: time.Second, CommandTimeout: 500 * time.Millisecond})
	h.SetRogue(labsim.Rogue{Drip: 20 * time.Millisecond})
	defer h.SetRogue(labsim.Rogue{})
	for _, m := range []mode{modes[0], modes[2]} {
		t.Run(m.name, func(t *testing.T) {
			start := time.Now()
			_, err := c.Run(context.Background(), target(sim, h, m), `C:\LabStation\LabStation.exe status`, winrm.RunOptions{})
			if !errors.Is(err, winrm.ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	mustNotLeakSOAP(t, h)
}
