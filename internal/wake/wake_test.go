package wake_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/wake"
)

// fakeHost is a sleeping Lab Station on loopback: a UDP socket that decodes
// magic packets and, once woken, a TCP listener on a chosen port.
type fakeHost struct {
	t        testing.TB
	udp      net.PacketConn
	udpPort  int
	tcpPort  int
	release  func() // frees tcpPort for the woken host's listener
	mac      net.HardwareAddr
	boot     time.Duration
	ignore   int32 // matching packets to lose before waking
	packets  atomic.Int32
	matching atomic.Int32

	mu     sync.Mutex
	ln     net.Listener
	timer  *time.Timer
	closed bool
	wg     sync.WaitGroup
}

// decodeMagic returns the MAC of a magic packet: 6 bytes 0xFF, then the
// MAC 16 times (an optional 4- or 6-byte password may follow).
func decodeMagic(b []byte) (net.HardwareAddr, bool) {
	if n := len(b); n != 102 && n != 106 && n != 108 {
		return nil, false
	}
	if !bytes.Equal(b[:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) {
		return nil, false
	}
	mac := b[6:12]
	for i := 1; i < 16; i++ {
		if !bytes.Equal(b[6+6*i:12+6*i], mac) {
			return nil, false
		}
	}
	return net.HardwareAddr(bytes.Clone(mac)), true
}

func freeTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startFakeHost(t testing.TB, mac string, boot time.Duration, ignore int32) *fakeHost {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The WinRM port is held (refusing) while the host sleeps: a port that
	// was merely free could be taken by another test's listener and answer
	// the probe for a host that never woke.
	port, release := reserveTCPPort(t)
	h := &fakeHost{t: t, udp: udp, udpPort: udp.LocalAddr().(*net.UDPAddr).Port, tcpPort: port, release: release,
		mac: hw, boot: boot, ignore: ignore}
	h.wg.Go(h.serveUDP)
	t.Cleanup(h.close)
	return h
}

func (h *fakeHost) serveUDP() {
	buf := make([]byte, 1500)
	for {
		n, _, err := h.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		h.packets.Add(1)
		got, ok := decodeMagic(buf[:n])
		if !ok || got.String() != h.mac.String() {
			continue
		}
		if h.matching.Add(1) == h.ignore+1 {
			h.mu.Lock()
			if !h.closed {
				h.wg.Add(1)
				h.timer = time.AfterFunc(h.boot, func() { defer h.wg.Done(); h.wakeUp() })
			}
			h.mu.Unlock()
		}
	}
}

func (h *fakeHost) wakeUp() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.release()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(h.tcpPort)))
	if err != nil {
		h.t.Errorf("fake host: listen: %v", err)
		return
	}
	h.ln = ln
	h.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
}

func (h *fakeHost) close() {
	h.mu.Lock()
	h.closed = true
	if h.timer != nil && h.timer.Stop() {
		h.wg.Done() // the boot never runs
	}
	if h.ln != nil {
		h.ln.Close()
	}
	h.mu.Unlock()
	h.udp.Close()
	h.wg.Wait()
}

// waitPackets waits until n packets arrived (or a second passed) and
// returns the count.
func (h *fakeHost) waitPackets(n int32) int32 {
	deadline := time.Now().Add(time.Second)
	for h.packets.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let any extra packet show
	return h.packets.Load()
}

func newWaker(t testing.TB) *wake.Waker {
	return &wake.Waker{Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

const hostMAC = "02:00:00:00:00:01"

func TestWake_WakesSleepingHost(t *testing.T) {
	tests := []struct {
		name         string
		ignore       int32
		wantAttempts int
	}{
		{"first packet", 0, 1},
		{"first packet lost", 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startFakeHost(t, hostMAC, 100*time.Millisecond, tc.ignore)
			w := newWaker(t)
			res, err := w.Wake(t.Context(), wake.Request{
				MAC: hostMAC, Broadcast: "127.0.0.1", Port: h.udpPort,
				Target: "127.0.0.1", TCPPort: h.tcpPort, Attempts: 3, Wait: 1500 * time.Millisecond, Check: wake.CheckTCP,
			})
			if err != nil {
				t.Fatalf("Wake: %v", err)
			}
			if !res.Success || res.ReachedBy != wake.ReachedTCP {
				t.Errorf("Success %v ReachedBy %q, want true tcp", res.Success, res.ReachedBy)
			}
			if res.AttemptsUsed != tc.wantAttempts {
				t.Errorf("AttemptsUsed = %d, want %d", res.AttemptsUsed, tc.wantAttempts)
			}
			if got := h.waitPackets(int32(tc.wantAttempts)); got != int32(tc.wantAttempts) {
				t.Errorf("host received %d packets, want %d (one per attempt)", got, tc.wantAttempts)
			}
			if res.Duration <= 0 || !strings.HasPrefix(res.ICMPMode, "skipped") {
				t.Errorf("Duration %v ICMPMode %q", res.Duration, res.ICMPMode)
			}
			t.Logf("woke in %v after %d attempts", res.Duration, res.AttemptsUsed)
		})
	}
}

func TestWake_WrongMACStaysAsleep(t *testing.T) {
	h := startFakeHost(t, hostMAC, 0, 0)
	w := newWaker(t)
	before := runtime.NumGoroutine()
	const attempts, wait = 2, 300 * time.Millisecond
	start := time.Now()
	res, err := w.Wake(t.Context(), wake.Request{
		MAC: "02:00:00:00:00:02", Broadcast: "127.0.0.1", Port: h.udpPort,
		Target: "127.0.0.1", TCPPort: h.tcpPort, Attempts: attempts, Wait: wait, Check: wake.CheckTCP,
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Wake: %v", err)
	}
	if res.Success || res.ReachedBy != "" || res.AttemptsUsed != attempts {
		t.Errorf("got %+v, want Success false, ReachedBy \"\", AttemptsUsed %d", res, attempts)
	}
	if limit := attempts*wait + time.Second; elapsed > limit {
		t.Errorf("took %v, over %v", elapsed, limit)
	}
	if elapsed < attempts*wait {
		t.Errorf("took %v, less than the %v of waiting asked for", elapsed, attempts*wait)
	}
	if got := h.waitPackets(attempts); got != attempts {
		t.Errorf("host received %d packets, want %d", got, attempts)
	}
	if h.matching.Load() != 0 {
		t.Errorf("host matched a packet for another MAC")
	}
	t.Logf("gave up after %v (%d x %v)", elapsed, attempts, wait)

	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Wake, %d before", n, before)
	}
}

func TestWake_Cancelled(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		h := startFakeHost(t, hostMAC, 0, 0)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		start := time.Now()
		res, err := newWaker(t).Wake(ctx, wake.Request{MAC: hostMAC, Broadcast: "127.0.0.1", Port: h.udpPort,
			Target: "127.0.0.1", TCPPort: h.tcpPort, Wait: 10 * time.Second, Check: wake.CheckTCP})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if res.Success || res.AttemptsUsed != 0 {
			t.Errorf("got %+v, want nothing sent", res)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("returned after %v", d)
		}
		if got := h.waitPackets(0); got != 0 {
			t.Errorf("host received %d packets", got)
		}
	})
	t.Run("during wait", func(t *testing.T) {
		h := startFakeHost(t, hostMAC, time.Hour, 0)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		res, err := newWaker(t).Wake(ctx, wake.Request{MAC: hostMAC, Broadcast: "127.0.0.1", Port: h.udpPort,
			Target: "127.0.0.1", TCPPort: h.tcpPort, Attempts: 3, Wait: 10 * time.Second, Check: wake.CheckTCP})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if res.Success || res.AttemptsUsed != 1 {
			t.Errorf("got %+v, want one attempt, no success", res)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned %v after the start, want soon after the cancel at 100ms", d)
		}
	})
}

func TestWake_InvalidRequest(t *testing.T) {
	h := startFakeHost(t, hostMAC, 0, 0)
	var dials atomic.Int32
	w := newWaker(t)
	w.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return nil, errors.New("dial not expected")
	}
	base := wake.Request{MAC: hostMAC, Broadcast: "127.0.0.1", Port: h.udpPort, Target: "127.0.0.1",
		TCPPort: h.tcpPort, Attempts: 1, Wait: 100 * time.Millisecond, Check: wake.CheckTCP}
	hostile := []string{"", " ", "127.0.0.1 ", "127.0.0.1;reboot", "$(reboot)", "`id`", "a|b", "a&b",
		"127.0.0.1\n", "[::1]", "127.0.0.1:9", "fe80::1%lo", "10.0.0.256", strings.Repeat("a", 64),
		strings.Repeat("a.", 127) + "a", "http://127.0.0.1", "lab ws", "läb"}
	type tc struct {
		name string
		r    wake.Request
	}
	var cases []tc
	for _, s := range hostile {
		r := base
		r.Target = s
		cases = append(cases, tc{"target " + s, r})
		if s != "" { // an empty broadcast means the default
			r = base
			r.Broadcast = s
			cases = append(cases, tc{"broadcast " + s, r})
		}
	}
	mod := func(name string, f func(*wake.Request)) {
		r := base
		f(&r)
		cases = append(cases, tc{name, r})
	}
	mod("no mac", func(r *wake.Request) { r.MAC = "" })
	mod("bad mac", func(r *wake.Request) { r.MAC = "02:00:00:00:00:0g" })
	mod("broadcast mac", func(r *wake.Request) { r.MAC = "ff:ff:ff:ff:ff:ff" })
	mod("port negative", func(r *wake.Request) { r.Port = -1 })
	mod("port too big", func(r *wake.Request) { r.Port = 65536 })
	mod("tcp port too big", func(r *wake.Request) { r.TCPPort = 70000 })
	mod("tcp check without port", func(r *wake.Request) { r.TCPPort = 0 })
	mod("attempts negative", func(r *wake.Request) { r.Attempts = -1 })
	mod("attempts too many", func(r *wake.Request) { r.Attempts = wake.MaxAttempts + 1 })
	mod("wait negative", func(r *wake.Request) { r.Wait = -time.Second })
	mod("wait too long", func(r *wake.Request) { r.Wait = wake.MaxWait + time.Second })
	mod("unknown check", func(r *wake.Request) { r.Check = "udp" })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := w.Wake(t.Context(), c.r)
			if !errors.Is(err, wake.ErrInvalidRequest) {
				t.Errorf("err = %v, want ErrInvalidRequest", err)
			}
			if res.AttemptsUsed != 0 || res.Success {
				t.Errorf("result %+v, want nothing attempted", res)
			}
		})
	}
	if got := h.waitPackets(0); got != 0 {
		t.Errorf("host received %d packets from refused requests", got)
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("%d TCP dials from refused requests", n)
	}
}

func TestWaker_ICMPModes(t *testing.T) {
	w := newWaker(t)
	w.ICMP = "off"
	if got := w.ICMPMode(); !strings.HasPrefix(got, "skipped: ") {
		t.Errorf("ICMPMode with ICMP off = %q", got)
	}
	_, err := w.Probe(t.Context(), "127.0.0.1", 0, wake.CheckICMP, time.Second)
	if !errors.Is(err, wake.ErrICMPUnavailable) {
		t.Errorf("icmp check with ICMP off: %v, want ErrICMPUnavailable", err)
	}
	_, err = w.Probe(t.Context(), "127.0.0.1", 0, wake.CheckAuto, time.Second)
	if !errors.Is(err, wake.ErrInvalidRequest) {
		t.Errorf("auto check with neither probe: %v, want ErrInvalidRequest", err)
	}
	res, err := w.Wake(t.Context(), wake.Request{MAC: hostMAC, Broadcast: "127.0.0.1", Port: 9, Target: "127.0.0.1", Check: wake.CheckICMP})
	if !errors.Is(err, wake.ErrICMPUnavailable) || !strings.HasPrefix(res.ICMPMode, "skipped: ") {
		t.Errorf("Wake icmp check with ICMP off = %+v, %v", res, err)
	}
}

func TestWaker_ICMPForcedModes(t *testing.T) {
	for _, want := range []string{"privileged", "unprivileged"} {
		w := newWaker(t)
		w.ICMP = want
		mode := w.ICMPMode()
		t.Logf("ICMP %q: %s", want, mode)
		if mode != want && !strings.HasPrefix(mode, "skipped: ") {
			t.Errorf("ICMP %q gave mode %q", want, mode)
			continue
		}
		by, err := w.Probe(t.Context(), "127.0.0.1", 0, wake.CheckICMP, 2*time.Second)
		if mode == want && (by != wake.ReachedICMP || err != nil) {
			t.Errorf("mode %s: Probe = %q, %v; want icmp", mode, by, err)
		}
		if mode != want && !errors.Is(err, wake.ErrICMPUnavailable) {
			t.Errorf("mode %s: Probe error %v, want ErrICMPUnavailable", mode, err)
		}
	}
	w := newWaker(t)
	w.ICMP = "sometimes"
	if got := w.ICMPMode(); !strings.HasPrefix(got, "skipped: unknown") {
		t.Errorf("unknown ICMP setting gave %q", got)
	}
}

func TestProbe_ICMPLoopback(t *testing.T) {
	w := wake.New(slog.New(slog.NewTextHandler(t.Output(), nil)))
	mode := w.ICMPMode()
	t.Logf("ICMP mode: %s", mode)
	if strings.HasPrefix(mode, "skipped") {
		t.Skipf("this process may open no ICMP socket: %s", mode)
	}
	start := time.Now()
	by, err := w.Probe(t.Context(), "127.0.0.1", 0, wake.CheckICMP, 3*time.Second)
	if err != nil || by != wake.ReachedICMP {
		t.Fatalf("Probe = %q, %v; want icmp", by, err)
	}
	t.Logf("echo reply from 127.0.0.1 in %v (%s)", time.Since(start), mode)
}

func TestProbe_TCP(t *testing.T) {
	w := newWaker(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	closed, _ := reserveTCPPort(t) // held, refusing: no other test can listen there

	if by, err := w.Probe(t.Context(), "127.0.0.1", open, wake.CheckTCP, time.Second); by != wake.ReachedTCP || err != nil {
		t.Errorf("open port: %q, %v; want tcp", by, err)
	}
	if by, err := w.Probe(t.Context(), "localhost", open, wake.CheckTCP, time.Second); by != wake.ReachedTCP || err != nil {
		t.Errorf("open port by name: %q, %v; want tcp", by, err)
	}
	start := time.Now()
	if by, err := w.Probe(t.Context(), "127.0.0.1", closed, wake.CheckTCP, 300*time.Millisecond); by != "" || err != nil {
		t.Errorf("closed port: %q, %v; want \"\", nil", by, err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 1300*time.Millisecond {
		t.Errorf("closed port probe took %v, want about the 300ms wait", d)
	}
	if by, err := w.Probe(t.Context(), "127.0.0.1", open, wake.CheckAuto, time.Second); by == "" || err != nil {
		t.Errorf("auto: %q, %v; want icmp or tcp", by, err)
	}
	if _, err := w.Probe(t.Context(), "127.0.0.1;id", open, wake.CheckTCP, time.Second); !errors.Is(err, wake.ErrInvalidRequest) {
		t.Errorf("hostile target: %v, want ErrInvalidRequest", err)
	}
}
