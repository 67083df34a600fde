package labsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Host is one simulated Lab Station.
type Host struct {
	sim              *Sim
	name             string
	user             string
	password         string
	mac              string
	macBytes         net.HardwareAddr
	bootDelay        time.Duration
	powerOffDelay    time.Duration // HostOptions.PowerOffDelay (0: powerGrace)
	latency          time.Duration
	hbEvery          time.Duration
	timeScale        float64 // HostOptions.TimeScale
	allowUnencrypted bool
	krb              *krbAcceptor // nil: no Kerberos (kerberos.go)
	sleepMode        SleepMode
	keepAlive        time.Duration // HostOptions.KeepAliveTimeout
	maxShells        int           // < 0: no limit
	idleTimeout      time.Duration // < 0: never
	maxEnvelope      int           // < 0: no limit
	oemCodePage      int           // 65001: no conversion
	labStationExe    string
	sec              *security // authentication policy, rogue knobs, request record

	httpsPort, httpPort, wakePort int
	healthPort                    int // the Lab Station health endpoint (health.go)
	wakeConn                      net.PacketConn

	requests atomic.Int64
	conns    atomic.Int64 // WinRM connections accepted (HTTP and HTTPS)
	// timedOut counts the Receives answered with the TimedOut fault.
	timedOut atomic.Int64
	active   sync.WaitGroup // WinRM handlers in flight

	mu        sync.Mutex
	closed    bool
	asleep    bool
	bootedAt  time.Time
	bootGen   uint64 // bumps cancel a pending boot
	powerGen  uint64 // bumps cancel a pending power action
	epoch     context.Context
	epochStop context.CancelFunc
	servers   []*http.Server
	// health serves the Lab Station health endpoint while awake (nil
	// asleep, or with Faults.HealthOff).
	health *http.Server
	// frozen: the servers of a host asleep in SleepBlackhole mode. Their
	// connections stay open and answer nothing, as a sleeping Windows
	// host's do (no FIN, no RST: the client finds out by its own
	// timeout); waking or closing the host closes them (thawLocked).
	frozen     []*http.Server
	frozenStop context.CancelFunc
	frozenCtx  context.Context
	reserved   []io.Closer // ports held while asleep
	listeners  []net.Listener
	shells     map[string]*shell
	inFlight   int
	records    []CommandRecord
	faults     Faults
	state      stationState
	files      map[string][]byte // extra files: SetFile, Set-Content
	dirs       map[string]bool   // folders of the files ever put there (fs.go)
	rewroteAt  time.Time         // the heartbeat's last out-of-turn rewrite (fs.go)
}

// stationState is what the Lab Station itself remembers.
type stationState struct {
	localUser        string
	profileMissing   bool
	lastPowerAction  map[string]any
	lastForcedLogoff map[string]any
	events           []string
}

func newHost(s *Sim, i int, o HostOptions) (*Host, error) {
	h := &Host{
		sim:              s,
		name:             o.Name,
		user:             o.User,
		password:         o.Password,
		mac:              o.MAC,
		bootDelay:        o.BootDelay,
		powerOffDelay:    o.PowerOffDelay,
		latency:          o.Latency,
		hbEvery:          o.HeartbeatInterval,
		timeScale:        o.TimeScale,
		allowUnencrypted: o.AllowUnencrypted,
		sleepMode:        o.SleepMode,
		keepAlive:        o.KeepAliveTimeout,
		maxShells:        o.MaxShellsPerUser,
		idleTimeout:      o.IdleTimeout,
		maxEnvelope:      o.MaxEnvelopeSize,
		oemCodePage:      o.OEMCodePage,
		labStationExe:    o.LabStationExe,
		sec:              newSecurity(s, o),
		asleep:           o.Asleep,
		shells:           map[string]*shell{},
		files:            map[string][]byte{},
		dirs:             map[string]bool{},
	}
	if h.name == "" {
		h.name = fmt.Sprintf("lab-ws-%02d", i+1)
	}
	if h.user == "" {
		h.user = DefaultUser
	}
	if h.password == "" {
		h.password = DefaultPassword
	}
	if h.mac == "" {
		n := i + 1
		h.mac = fmt.Sprintf("02:00:00:%02x:%02x:%02x", (n>>16)&0xff, (n>>8)&0xff, n&0xff)
	}
	mac, err := net.ParseMAC(h.mac)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("host %s: bad MAC %q", h.name, h.mac)
	}
	h.macBytes = mac
	h.mac = mac.String()
	if h.timeScale < 0 {
		return nil, fmt.Errorf("host %s: TimeScale %v is negative", h.name, h.timeScale)
	}
	if h.hbEvery <= 0 {
		h.hbEvery = time.Minute
	}
	if h.krb, err = newKrbAcceptor(o.Kerberos); err != nil {
		return nil, fmt.Errorf("host %s: %w", h.name, err)
	}
	switch {
	case h.keepAlive == 0:
		h.keepAlive = DefaultKeepAliveTimeout
	case h.keepAlive < 0:
		h.keepAlive = 0 // net/http: no idle limit
	}
	switch h.sleepMode {
	case "":
		h.sleepMode = SleepBlackhole
	case SleepBlackhole, SleepRefuse:
	default:
		return nil, fmt.Errorf("host %s: sleep mode %q is not %q or %q", h.name, h.sleepMode, SleepBlackhole, SleepRefuse)
	}
	if h.maxShells == 0 {
		h.maxShells = DefaultMaxShellsPerUser
	}
	if h.idleTimeout == 0 {
		h.idleTimeout = DefaultIdleTimeout
	}
	if h.maxEnvelope == 0 {
		h.maxEnvelope = DefaultMaxEnvelopeSize
	}
	switch h.oemCodePage {
	case 0:
		h.oemCodePage = DefaultOEMCodePage
	case 437, 850, 65001:
	default:
		return nil, fmt.Errorf("host %s: OEM code page %d is not 437, 850 or 65001", h.name, h.oemCodePage)
	}
	if h.labStationExe == "" {
		h.labStationExe = DefaultLabStationExe
	}
	h.bootedAt = s.now()
	h.state = initialState(h, o)

	for _, p := range []struct {
		name string
		port int
	}{{"HTTPS", o.HTTPSPort}, {"HTTP", o.HTTPPort}, {"wake", o.WakePort}, {"health", o.HealthPort}} {
		if p.port < 0 || p.port > 65535 {
			return nil, fmt.Errorf("host %s: %s port %d out of range 0..65535", h.name, p.name, p.port)
		}
	}
	h.httpsPort, h.httpPort, h.healthPort = o.HTTPSPort, o.HTTPPort, o.HealthPort

	h.wakeConn, err = net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", o.WakePort))
	if err != nil {
		return nil, fmt.Errorf("host %s: wake port %d (UDP): %w", h.name, o.WakePort, err)
	}
	h.wakePort = h.wakeConn.LocalAddr().(*net.UDPAddr).Port
	s.wg.Add(1)
	go h.wakeLoop()

	h.mu.Lock()
	defer h.mu.Unlock()
	// Ports are chosen once, even for a host that starts asleep, so that
	// hosts.json stays valid across sleep and wake.
	if err := h.openLocked(); err != nil {
		_ = h.wakeConn.Close()
		return nil, fmt.Errorf("host %s: %w", h.name, err)
	}
	if o.Asleep {
		h.closeLocked()
	}
	return h, nil
}

// Name returns the host name as configured.
func (h *Host) Name() string { return h.name }

// HTTPSPort is the WinRM HTTPS port on 127.0.0.1.
func (h *Host) HTTPSPort() int { return h.httpsPort }

// HTTPPort is the WinRM plain-HTTP port on 127.0.0.1.
func (h *Host) HTTPPort() int { return h.httpPort }

// WakePort is the UDP port on 127.0.0.1 that takes magic packets.
func (h *Host) WakePort() int { return h.wakePort }

// MAC returns the MAC address in lower-case colon notation.
func (h *Host) MAC() string { return h.mac }

// User returns the WinRM account name.
func (h *Host) User() string { return h.user }

// Password returns the WinRM account password.
func (h *Host) Password() string { return h.password }

// HTTPRequests counts the WinRM HTTP requests served, 401 rounds included.
func (h *Host) HTTPRequests() int64 { return h.requests.Load() }

// Connections is the number of WinRM connections (HTTP and HTTPS) the host
// has accepted.
func (h *Host) Connections() int64 { return h.conns.Load() }

// Asleep reports whether the WinRM listeners are closed.
func (h *Host) Asleep() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.asleep
}

// Sleep powers the host down now: open connections are dropped, the WinRM
// ports stop answering (per HostOptions.SleepMode: no answer, or refused)
// and any pending boot or power action is cancelled.
func (h *Host) Sleep() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bootGen++
	h.powerGen++
	if !h.asleep && !h.closed {
		h.closeLocked()
	}
}

// Wake boots the host now, without the boot delay.
func (h *Host) Wake() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bootGen++
	if h.asleep && !h.closed {
		if err := h.openLocked(); err != nil {
			h.sim.log.Error("labsim wake", "host", h.name, "err", err)
		}
	}
}

// powerOffMidCall powers the host down when the DieMidCall fault is set,
// dropping every connection, the caller's Receive included, before any
// answer. It reports whether it did.
func (h *Host) powerOffMidCall() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.faults.DieMidCall || h.asleep || h.closed {
		return false
	}
	h.bootGen++
	h.powerGen++
	h.closeLocked()
	h.sim.log.Info("labsim host died mid-call", "host", h.name)
	return true
}

// SetFaults replaces the host's fault knobs. WinRMOff and HealthOff take
// effect at once on an awake host: the listener closes (refused) or opens
// again on its port.
func (h *Host) SetFaults(f Faults) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.faults
	h.faults = f
	if h.asleep || h.closed {
		return // the next boot opens what the faults allow
	}
	if f.WinRMOff != old.WinRMOff {
		if f.WinRMOff {
			h.stopWinRMLocked()
		} else if lns, err := h.listenWinRMLocked(); err != nil {
			h.sim.log.Error("labsim WinRM on", "host", h.name, "err", err)
		} else {
			h.serveWinRMLocked(lns)
		}
	}
	if f.HealthOff != old.HealthOff {
		if f.HealthOff {
			h.stopHealthLocked()
		} else if err := h.openHealthLocked(); err != nil {
			h.sim.log.Error("labsim health on", "host", h.name, "err", err)
		}
	}
}

// SetFile puts a file on the station's disk at path (absolute, any case
// or slash), for Get-Content to read; nil data removes it. The heartbeat
// and events files are the station's own and are not replaced.
func (h *Host) SetFile(path string, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if data == nil {
		if _, existed := h.files[normPath(path)]; existed {
			delete(h.files, normPath(path))
			h.flagChangedLocked(path)
		}
		return
	}
	_, existed := h.files[normPath(path)]
	h.files[normPath(path)] = append([]byte(nil), data...)
	if !existed {
		h.flagChangedLocked(path)
	}
	for d := parentDir(normPath(path)); d != ""; d = parentDir(d) {
		h.dirs[d] = true
	}
}

// SetLocalUser signs a local console user in ("" signs nobody in).
func (h *Host) SetLocalUser(user string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state.localUser = user
}

// LocalUser returns the local console user, "" when none.
func (h *Host) LocalUser() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state.localUser
}

// SetProfileMissing makes session commands end with warnings (exit 1).
func (h *Host) SetProfileMissing(missing bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state.profileMissing = missing
}

// Commands returns every command received, oldest first.
func (h *Host) Commands() []CommandRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]CommandRecord, len(h.records))
	for i, r := range h.records {
		r.Args = append([]string(nil), r.Args...)
		out[i] = r
	}
	return out
}

// openLocked starts both WinRM listeners (unless Faults.WinRMOff) and the
// health endpoint (unless Faults.HealthOff), on the ports used before if
// any.
func (h *Host) openLocked() error {
	h.thawLocked()
	h.releasePortsLocked()
	var lns []net.Listener
	if !h.faults.WinRMOff {
		var err error
		if lns, err = h.listenWinRMLocked(); err != nil {
			return err
		}
	}
	if !h.faults.HealthOff {
		if err := h.openHealthLocked(); err != nil {
			for _, ln := range lns {
				_ = ln.Close()
			}
			return err
		}
	}
	h.epoch, h.epochStop = context.WithCancel(h.sim.ctx)
	h.asleep = false
	h.bootedAt = h.sim.now()
	h.shells = map[string]*shell{}
	h.inFlight = 0
	if lns != nil {
		h.serveWinRMLocked(lns)
	}
	return nil
}

// listenWinRMLocked listens on the WinRM HTTPS and HTTP ports.
func (h *Host) listenWinRMLocked() ([]net.Listener, error) {
	httpsLn, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", h.httpsPort))
	if err != nil {
		return nil, fmt.Errorf("HTTPS port %d: %w", h.httpsPort, err)
	}
	httpLn, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", h.httpPort))
	if err != nil {
		_ = httpsLn.Close()
		return nil, fmt.Errorf("HTTP port %d: %w", h.httpPort, err)
	}
	// Set at the first open, before the host is published: the accessors
	// read them without the lock. Later opens reuse these ports.
	if h.httpsPort == 0 {
		h.httpsPort = httpsLn.Addr().(*net.TCPAddr).Port
	}
	if h.httpPort == 0 {
		h.httpPort = httpLn.Addr().(*net.TCPAddr).Port
	}
	return []net.Listener{httpsLn, httpLn}, nil
}

// stopWinRMLocked closes the WinRM listeners of an awake host (the WinRM
// service stopped): its ports refuse, its shells are gone.
func (h *Host) stopWinRMLocked() {
	for _, srv := range h.servers {
		_ = srv.Close()
	}
	for _, ln := range h.listeners {
		_ = ln.Close()
	}
	h.servers, h.listeners = nil, nil
	for _, sh := range h.shells {
		sh.terminateAll()
	}
	h.shells = map[string]*shell{}
	h.inFlight = 0
}

// serveWinRMLocked serves WinRM on listenWinRMLocked's listeners.
func (h *Host) serveWinRMLocked(lns []net.Listener) {
	tlsLn := tlsListener(lns[0], h.sim.tls)
	for _, l := range []struct {
		ln    net.Listener
		https bool
	}{{tlsLn, true}, {lns[1], false}} {
		srv := h.newServer(l.https)
		h.servers = append(h.servers, srv)
		h.listeners = append(h.listeners, l.ln)
		h.sim.wg.Add(1)
		go func(ln net.Listener) {
			defer h.sim.wg.Done()
			// A host going to sleep closes the listener alone (its
			// connections freeze): net.ErrClosed.
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				h.sim.log.Error("labsim serve", "host", h.name, "err", err)
			}
		}(l.ln)
	}
}

// closeLocked closes the listeners and every connection, ends every
// request waiting inside the host and forgets the shells, as a power-off.
func (h *Host) closeLocked() {
	if h.sleepMode == SleepBlackhole && !h.closed {
		h.frozen = append(h.frozen, h.servers...)
		if h.frozenStop == nil {
			h.frozenCtx, h.frozenStop = context.WithCancel(h.sim.ctx)
		}
	} else {
		for _, srv := range h.servers {
			_ = srv.Close()
		}
	}
	// Serve may not have started yet, and then it closes its listener only
	// when it returns: close them here so the port refuses right away.
	for _, ln := range h.listeners {
		_ = ln.Close()
	}
	h.servers, h.listeners = nil, nil
	h.stopHealthLocked() // refused while asleep: nothing answers on the LAN
	if !h.closed {
		hold := reservePort
		if h.sleepMode == SleepBlackhole {
			hold = blackholePort
		}
		for _, p := range []int{h.httpsPort, h.httpPort} {
			c, err := hold(p)
			if err != nil {
				h.sim.log.Warn("labsim reserve port", "host", h.name, "err", err)
				continue
			}
			if c != nil {
				h.reserved = append(h.reserved, c)
			}
		}
	}
	if h.epochStop != nil {
		h.epochStop()
	}
	for _, sh := range h.shells {
		sh.terminateAll()
	}
	h.shells = map[string]*shell{}
	h.inFlight = 0
	h.asleep = true
}

// thawLocked closes the connections frozen by a blackholed sleep.
func (h *Host) thawLocked() {
	for _, srv := range h.frozen {
		_ = srv.Close()
	}
	h.frozen = nil
	if h.frozenStop != nil {
		h.frozenStop()
		h.frozenStop, h.frozenCtx = nil, nil
	}
}

func (h *Host) releasePortsLocked() {
	for _, c := range h.reserved {
		_ = c.Close()
	}
	h.reserved = nil
}

func (h *Host) shutdown() error {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		h.bootGen++
		h.powerGen++
		if !h.asleep {
			h.closeLocked()
		}
		h.thawLocked()
		h.releasePortsLocked()
	}
	h.mu.Unlock()
	err := h.wakeConn.Close()
	h.active.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("host %s: close wake listener: %w", h.name, err)
	}
	return nil
}

// afterLocked runs f (under h.mu) once d has passed, unless the sim closes or
// gen no longer matches *genp by then.
func (h *Host) afterLocked(d time.Duration, genp *uint64, f func()) {
	if h.closed {
		return // Close may be waiting on the WaitGroup already
	}
	gen := *genp
	h.sim.wg.Add(1)
	go func() {
		defer h.sim.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-h.sim.ctx.Done():
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.closed || *genp != gen {
			return
		}
		f()
	}()
}

// scheduleBootLocked reopens the listeners after the boot delay.
func (h *Host) scheduleBootLocked() {
	h.bootGen++
	h.afterLocked(h.bootDelay, &h.bootGen, func() {
		if h.asleep {
			if err := h.openLocked(); err != nil {
				h.sim.log.Error("labsim boot", "host", h.name, "err", err)
				return
			}
			h.sim.log.Info("labsim host booted", "host", h.name)
		}
	})
}

// schedulePowerLocked puts the host to sleep after d and, for a reboot,
// boots it again after the boot delay.
func (h *Host) schedulePowerLocked(d time.Duration, reboot bool) {
	h.powerGen++
	h.afterLocked(d, &h.powerGen, func() {
		if !h.asleep {
			h.closeLocked()
			h.sim.log.Info("labsim host power off", "host", h.name, "reboot", reboot)
		}
		if reboot {
			h.scheduleBootLocked()
		}
	})
}

func (h *Host) wakeLoop() {
	defer h.sim.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := h.wakeConn.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		if !isMagicPacketFor(buf[:n], h.macBytes) {
			continue
		}
		h.mu.Lock()
		if h.asleep && !h.closed {
			h.sim.log.Info("labsim magic packet", "host", h.name, "boot_delay", h.bootDelay)
			h.scheduleBootLocked()
		}
		h.mu.Unlock()
	}
}

// isMagicPacketFor reports whether p is a Wake-on-LAN magic packet
// (6 x 0xFF, then the MAC 16 times, optionally a 4- or 6-byte SecureOn
// password) for mac.
func isMagicPacketFor(p []byte, mac net.HardwareAddr) bool {
	if len(p) != 102 && len(p) != 106 && len(p) != 108 {
		return false
	}
	for i := 0; i < 6; i++ {
		if p[i] != 0xff {
			return false
		}
	}
	for i := 0; i < 16; i++ {
		if string(p[6+i*6:12+i*6]) != string(mac) {
			return false
		}
	}
	return true
}

func (h *Host) computerName() string { return strings.ToUpper(h.name) }
