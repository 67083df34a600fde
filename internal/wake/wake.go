// Package wake wakes a Lab Station with Wake-on-LAN magic packets
// (mdlayher/wol) and checks that it answers: ICMP echo (pro-bing) and a TCP
// connect to its WinRM port.
package wake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/mdlayher/wol"

	"github.com/ops-worker/ops-worker/internal/netaddr"
	"github.com/ops-worker/ops-worker/internal/wakelimits"
)

// Check modes (hosts.Host.WakeCheck).
const (
	CheckAuto = "auto" // ICMP and TCP, either answering counts ("" too)
	CheckTCP  = "tcp"
	CheckICMP = "icmp"
)

// Ways a host was reached (Result.ReachedBy).
const (
	ReachedICMP = "icmp"
	ReachedTCP  = "tcp"
)

// Defaults of /api/wol, applied to zero fields of a Request.
const (
	DefaultBroadcast = wakelimits.DefaultBroadcast
	DefaultPort      = wakelimits.DefaultPort
	DefaultAttempts  = wakelimits.DefaultAttempts
	DefaultWait      = wakelimits.DefaultWait
	// MaxAttempts and MaxWait bound one Wake call.
	MaxAttempts = wakelimits.MaxAttempts
	MaxWait     = wakelimits.MaxWait
	// DefaultTCPRetry is the pause between TCP connect attempts.
	DefaultTCPRetry = 200 * time.Millisecond
)

// ErrInvalidRequest is wrapped by every refusal of bad input; nothing has
// been sent when it is returned.
var ErrInvalidRequest = errors.New("invalid wake request")

// ErrICMPUnavailable is returned when the check asks for ICMP only and this
// process can open no ICMP socket.
var ErrICMPUnavailable = errors.New("ICMP echo unavailable")

// Request is one wake: Attempts magic packets for MAC to Broadcast:Port,
// each followed by up to Wait for Target to answer. Zero fields take the
// defaults above; TCPPort 0 means no TCP probe.
type Request struct {
	MAC       string
	Broadcast string
	Port      int
	Target    string
	TCPPort   int
	Attempts  int
	Wait      time.Duration
	Check     string // "", "auto", "tcp", "icmp"
}

// Result of a wake. An unreachable host is Success false, not an error.
type Result struct {
	Success      bool
	AttemptsUsed int
	Duration     time.Duration
	ReachedBy    string // "icmp", "tcp" or "" (not reached)
	// ICMPMode is "privileged", "unprivileged" or "skipped: <reason>".
	ICMPMode string
}

// Waker sends magic packets and probes hosts. The zero value is ready to
// use; it decides its ICMP mode on first use (New decides at once). It is
// safe for concurrent use; it must not be copied after first use.
type Waker struct {
	// Logger receives one line per wake and per attempt; nil means
	// slog.Default().
	Logger *slog.Logger
	// Dial opens the TCP probe connections; nil means a net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Resolver looks up host names; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// TCPRetry is the pause between TCP connect attempts; zero means
	// DefaultTCPRetry.
	TCPRetry time.Duration
	// ICMP limits the echo mode: "" takes privileged when the process
	// may, else unprivileged; "privileged" or "unprivileged" tries only that
	// one; "off" skips ICMP. Whatever cannot be opened is skipped, with the
	// reason in ICMPMode.
	ICMP string
	// Observer, when set, is told the outcome of every Wake (metrics);
	// nil: nothing is observed.
	Observer Observer

	once sync.Once
	icmp icmpState
}

// New returns a Waker that has already decided its ICMP mode (and logged it).
func New(logger *slog.Logger) *Waker {
	w := &Waker{Logger: logger}
	st := w.icmpState()
	w.log().Info("wake: ICMP echo mode decided", "icmp_mode", st.mode)
	return w
}

// ICMPMode is "privileged", "unprivileged" or "skipped: <reason>".
func (w *Waker) ICMPMode() string { return w.icmpState().mode }

func (w *Waker) log() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

func (w *Waker) resolver() *net.Resolver {
	if w.Resolver != nil {
		return w.Resolver
	}
	return net.DefaultResolver
}

// normalize applies defaults and validates r, before any I/O.
func normalize(r Request) (Request, net.HardwareAddr, error) {
	mac, err := netaddr.ParseMAC(r.MAC)
	if err != nil {
		return r, nil, fmt.Errorf("%w: mac: %w", ErrInvalidRequest, err)
	}
	if r.Broadcast == "" {
		r.Broadcast = DefaultBroadcast
	}
	if err := netaddr.ValidHost(r.Broadcast); err != nil {
		return r, nil, fmt.Errorf("%w: broadcast: %w", ErrInvalidRequest, err)
	}
	if err := netaddr.ValidHost(r.Target); err != nil {
		return r, nil, fmt.Errorf("%w: ping target: %w", ErrInvalidRequest, err)
	}
	if r.Port == 0 {
		r.Port = DefaultPort
	}
	if r.Port < 1 || r.Port > 65535 {
		return r, nil, fmt.Errorf("%w: port %d out of range 1-65535", ErrInvalidRequest, r.Port)
	}
	if r.TCPPort < 0 || r.TCPPort > 65535 {
		return r, nil, fmt.Errorf("%w: TCP port %d out of range 1-65535", ErrInvalidRequest, r.TCPPort)
	}
	if r.Attempts == 0 {
		r.Attempts = DefaultAttempts
	}
	if r.Attempts < 1 || r.Attempts > MaxAttempts {
		return r, nil, fmt.Errorf("%w: attempts %d out of range 1-%d", ErrInvalidRequest, r.Attempts, MaxAttempts)
	}
	if r.Wait == 0 {
		r.Wait = DefaultWait
	}
	if r.Wait < 0 || r.Wait > MaxWait {
		return r, nil, fmt.Errorf("%w: wait %s out of range (0, %s]", ErrInvalidRequest, r.Wait, MaxWait)
	}
	return r, mac, nil
}

// plan says which probes a check mode uses.
func (w *Waker) plan(check string, tcpPort int) (useICMP, useTCP bool, icmpMode string, err error) {
	st := w.icmpState()
	switch check {
	case "", CheckAuto:
		useICMP, useTCP = st.ok, tcpPort > 0
		if !useICMP && !useTCP {
			return false, false, st.mode, fmt.Errorf("%w: no probe possible: no TCP port given and ICMP %s", ErrInvalidRequest, st.mode)
		}
		return useICMP, useTCP, st.mode, nil
	case CheckTCP:
		if tcpPort <= 0 {
			return false, false, "skipped: check mode tcp", fmt.Errorf("%w: check mode tcp needs a TCP port", ErrInvalidRequest)
		}
		return false, true, "skipped: check mode tcp", nil
	case CheckICMP:
		if !st.ok {
			return false, false, st.mode, fmt.Errorf("%w: check mode icmp: %s", ErrICMPUnavailable, st.mode)
		}
		return true, false, st.mode, nil
	}
	return false, false, st.mode, fmt.Errorf("%w: check mode %q, want auto, tcp or icmp", ErrInvalidRequest, check)
}

// Wake sends one magic packet per attempt and after each waits up to
// r.Wait for the host to answer. It returns an error only for bad input
// (nothing sent), a failed send, or the end of ctx; an unreachable host is
// Result{Success: false} after r.Attempts attempts.
func (w *Waker) Wake(ctx context.Context, r Request) (Result, error) {
	res, err := w.wake(ctx, r)
	if w.Observer != nil {
		w.Observer.ObserveWake(res, err)
	}
	return res, err
}

// Observer is told the outcome of every Waker.Wake, for metrics: called
// once per call after it ended, from the caller's goroutine, so it must be
// fast and safe for concurrent use.
type Observer interface {
	// ObserveWake receives Wake's result (AttemptsUsed magic packets
	// sent; ReachedBy "icmp", "tcp" or "") and error (bad input, a failed
	// send or the end of the context).
	ObserveWake(res Result, err error)
}

func (w *Waker) wake(ctx context.Context, r Request) (Result, error) {
	start := time.Now()
	r, mac, err := normalize(r)
	if err != nil {
		return Result{}, fmt.Errorf("wake: %w", err)
	}
	useICMP, useTCP, icmpMode, err := w.plan(r.Check, r.TCPPort)
	res := Result{ICMPMode: icmpMode}
	if err != nil {
		return res, fmt.Errorf("wake %s: %w", mac, err)
	}
	done := func() { res.Duration = time.Since(start) }
	if err := ctx.Err(); err != nil {
		done()
		return res, fmt.Errorf("wake %s: %w", mac, err)
	}
	bcast, err := w.lookup(ctx, r.Broadcast)
	if err != nil {
		done()
		return res, fmt.Errorf("wake %s: broadcast %s: %w", mac, r.Broadcast, err)
	}
	addr := net.JoinHostPort(bcast.String(), strconv.Itoa(r.Port))
	client, err := wol.NewClient()
	if err != nil {
		done()
		return res, fmt.Errorf("wake %s: open UDP socket: %w", mac, err)
	}
	defer client.Close()

	log := w.log().With("mac", mac.String(), "broadcast", addr, "target", r.Target)
	for attempt := 1; attempt <= r.Attempts; attempt++ {
		if err := client.Wake(addr, mac); err != nil {
			done()
			return res, fmt.Errorf("wake %s: send magic packet to %s: %w", mac, addr, err)
		}
		res.AttemptsUsed = attempt
		log.DebugContext(ctx, "wake: magic packet sent", "attempt", attempt)
		if by := w.probe(ctx, r.Target, r.TCPPort, useICMP, useTCP, r.Wait); by != "" {
			res.Success, res.ReachedBy = true, by
			break
		}
		if err := ctx.Err(); err != nil {
			done()
			log.InfoContext(ctx, "wake: cancelled", "attempts_used", res.AttemptsUsed, "error", err)
			return res, fmt.Errorf("wake %s: %w", mac, err)
		}
	}
	done()
	log.InfoContext(ctx, "wake: done", "success", res.Success, "attempts_used", res.AttemptsUsed,
		"reached_by", res.ReachedBy, "duration_ms", res.Duration.Milliseconds(), "icmp_mode", res.ICMPMode)
	return res, nil
}

// Probe waits up to wait for target to answer by the probes check allows
// (see Request.Check) and says which answered first: "icmp", "tcp", or ""
// when none did. The error is for bad input or the end of ctx only.
func (w *Waker) Probe(ctx context.Context, target string, tcpPort int, check string, wait time.Duration) (string, error) {
	if err := netaddr.ValidHost(target); err != nil {
		return "", fmt.Errorf("probe: %w: %w", ErrInvalidRequest, err)
	}
	if tcpPort < 0 || tcpPort > 65535 {
		return "", fmt.Errorf("probe %s: %w: TCP port %d out of range", target, ErrInvalidRequest, tcpPort)
	}
	if wait == 0 {
		wait = DefaultWait
	}
	if wait < 0 || wait > MaxWait {
		return "", fmt.Errorf("probe %s: %w: wait %s out of range", target, ErrInvalidRequest, wait)
	}
	useICMP, useTCP, _, err := w.plan(check, tcpPort)
	if err != nil {
		return "", fmt.Errorf("probe %s: %w", target, err)
	}
	by := w.probe(ctx, target, tcpPort, useICMP, useTCP, wait)
	if by == "" && ctx.Err() != nil {
		return "", fmt.Errorf("probe %s: %w", target, ctx.Err())
	}
	return by, nil
}

// probe runs the chosen probes at once for up to wait; the first answer
// ends both. It returns after both have stopped.
func (w *Waker) probe(ctx context.Context, target string, tcpPort int, useICMP, useTCP bool, wait time.Duration) string {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	answers := make(chan string, 2)
	var wg sync.WaitGroup
	if useICMP {
		wg.Go(func() {
			ok, err := w.ping(ctx, target)
			if ok {
				answers <- ReachedICMP
				cancel()
			} else if err != nil && ctx.Err() == nil {
				w.log().WarnContext(ctx, "wake: ICMP probe failed", "target", target, "error", err)
			}
		})
	}
	if useTCP {
		wg.Go(func() {
			if w.connect(ctx, target, tcpPort) {
				answers <- ReachedTCP
				cancel()
			}
		})
	}
	wg.Wait()
	close(answers)
	return <-answers // "" when the channel is empty
}

// connect tries a TCP connection every TCPRetry until one succeeds or ctx
// ends.
func (w *Waker) connect(ctx context.Context, target string, port int) bool {
	dial := w.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	retry := w.TCPRetry
	if retry <= 0 {
		retry = DefaultTCPRetry
	}
	addr := net.JoinHostPort(target, strconv.Itoa(port))
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
		}
		// A sleeping host on a real LAN swallows the SYN: bound each try so
		// the loop keeps its pace.
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := dial(dctx, "tcp", addr)
		cancel()
		if err == nil {
			conn.Close()
			return true
		}
		timer.Reset(retry)
	}
}

// lookup returns target's IP address, preferring IPv4, bounded by ctx.
func (w *Waker) lookup(ctx context.Context, target string) (net.IP, error) {
	if ip := net.ParseIP(target); ip != nil {
		return ip, nil
	}
	addrs, err := w.resolver().LookupIPAddr(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", target, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("look up %s: no address", target)
	}
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return a.IP, nil
		}
	}
	return addrs[0].IP, nil
}
