package pdusim

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"
)

// User is an SNMPv3 USM user. Its keys are passphrases (at least 8
// characters, as net-snmp requires), localized to the agent's engine ID.
type User struct {
	Name    string
	Auth    gosnmp.SnmpV3AuthProtocol // gosnmp.NoAuth (or 0) for none
	AuthKey string
	Priv    gosnmp.SnmpV3PrivProtocol // gosnmp.NoPriv (or 0) for none
	PrivKey string
	// Write: the user may SET (a read-only user's SET is noAccess).
	Write bool
}

// AgentConfig configures an Agent.
type AgentConfig struct {
	Device *Device
	// Addr is the UDP address, "127.0.0.1:0" (any free port) when empty;
	// only loopback addresses are accepted.
	Addr   string
	Tables Tables
	// SysName is sysName.0.
	SysName string
	// ReadCommunity and WriteCommunity serve v1 and v2c (both empty: v1
	// and v2c get no answer). A wrong community gets no answer at all.
	ReadCommunity  string
	WriteCommunity string
	// Users are the SNMPv3 users (none: v3 requests get
	// usmStatsUnknownUserNames reports).
	Users []User
	// EngineID is snmpEngineID (random in APC's enterprise when empty).
	EngineID []byte
	// EngineBoots is snmpEngineBoots (1 when 0).
	EngineBoots uint32
	Logger      *slog.Logger
}

// AgentStats counts what the agent refused, as the usmStats and snmp
// counters do.
type AgentStats struct {
	Requests          int64 // datagrams received
	Answered          int64
	Dropped           int64 // malformed, unsupported or faulted
	BadCommunity      int64
	UnknownEngineIDs  int64
	UnknownUserNames  int64
	WrongDigests      int64
	NotInTimeWindows  int64
	DecryptionErrors  int64
	UnsupportedLevels int64
}

// USM statistics OIDs (RFC 3414), the varbinds of Report PDUs.
const (
	oidUnsupportedSecLevels = ".1.3.6.1.6.3.15.1.1.1.0"
	oidNotInTimeWindows     = ".1.3.6.1.6.3.15.1.1.2.0"
	oidUnknownUserNames     = ".1.3.6.1.6.3.15.1.1.3.0"
	oidUnknownEngineIDs     = ".1.3.6.1.6.3.15.1.1.4.0"
	oidWrongDigests         = ".1.3.6.1.6.3.15.1.1.5.0"
	oidDecryptionErrors     = ".1.3.6.1.6.3.15.1.1.6.0"
)

// timeWindow is RFC 3414's 150 seconds.
const timeWindow = 150

// maxDatagram: the largest answer the agent sends over UDP/IPv4; v1 and
// v2c answers are also bounded by communityMaxSize as net-snmp's default.
const (
	maxDatagram      = 65507
	communityMaxSize = 1472
)

// Agent is an SNMP agent serving a Device as an APC switched PDU.
type Agent struct {
	cfg      AgentConfig
	dev      *Device
	log      *slog.Logger
	engineID string
	boots    uint32
	start    time.Time
	users    map[string]*usmUser

	mu     sync.Mutex
	conn   *net.UDPConn
	addr   *net.UDPAddr
	closed bool
	wg     sync.WaitGroup

	requests, answered, dropped, badCommunity          atomic.Int64
	unknownEngine, unknownUser, wrongDigest, notInTime atomic.Int64
	decryptErr, unsupportedLevel                       atomic.Int64
}

type usmUser struct {
	User
	secretKey, privKey []byte
}

// StartAgent validates cfg, localizes the users' keys and listens.
func StartAgent(ctx context.Context, cfg AgentConfig) (*Agent, error) {
	a, err := newAgent(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	ua, err := net.ResolveUDPAddr("udp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("pdusim agent address: %w", err)
	}
	if ua.IP == nil || !ua.IP.IsLoopback() {
		return nil, fmt.Errorf("pdusim agent address %s: loopback only", cfg.Addr)
	}
	a.addr = ua
	if err := a.listen(ctx); err != nil {
		return nil, err
	}
	a.dev.onFault(func(f Fault) { a.faultChanged(ctx, f) })
	if a.dev.Fault() == FaultRefuse {
		a.faultChanged(ctx, FaultRefuse)
	}
	return a, nil
}

func newAgent(cfg AgentConfig) (*Agent, error) {
	if cfg.Device == nil {
		return nil, errors.New("pdusim agent: no device")
	}
	if cfg.Tables < TablesRPDU2 || cfg.Tables > TablesBoth {
		return nil, fmt.Errorf("pdusim agent: tables %d unknown", cfg.Tables)
	}
	if cfg.SysName == "" {
		cfg.SysName = "pdusim"
	}
	a := &Agent{cfg: cfg, dev: cfg.Device, log: cfg.Logger, boots: cfg.EngineBoots, start: time.Now(), users: map[string]*usmUser{}}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.boots == 0 {
		a.boots = 1
	}
	if len(cfg.EngineID) == 0 {
		// RFC 3411 format 5 (octets) in APC's enterprise 318.
		id := []byte{0x80, 0x00, 0x01, 0x3e, 0x05, 0, 0, 0, 0, 0, 0, 0, 0}
		if _, err := rand.Read(id[5:]); err != nil {
			return nil, fmt.Errorf("pdusim engine id: %w", err)
		}
		cfg.EngineID = id
	}
	if len(cfg.EngineID) < 5 || len(cfg.EngineID) > 32 {
		return nil, fmt.Errorf("pdusim agent: engine id of %d bytes, want 5..32", len(cfg.EngineID))
	}
	a.engineID = string(cfg.EngineID)
	for _, u := range cfg.Users {
		if u.Name == "" || len(u.Name) > 32 {
			return nil, errors.New("pdusim agent: a user name must have 1..32 characters")
		}
		if _, dup := a.users[u.Name]; dup {
			return nil, fmt.Errorf("pdusim agent: user %q twice", u.Name)
		}
		if u.Auth == 0 {
			u.Auth = gosnmp.NoAuth
		}
		if u.Priv == 0 {
			u.Priv = gosnmp.NoPriv
		}
		if u.Auth == gosnmp.NoAuth && u.Priv != gosnmp.NoPriv {
			return nil, fmt.Errorf("pdusim agent: user %q: privacy needs authentication", u.Name)
		}
		if u.Auth > gosnmp.SHA512 || u.Priv > gosnmp.AES256C {
			return nil, fmt.Errorf("pdusim agent: user %q: unknown protocol", u.Name)
		}
		if (u.Auth != gosnmp.NoAuth && len(u.AuthKey) < 8) || (u.Priv != gosnmp.NoPriv && len(u.PrivKey) < 8) {
			return nil, fmt.Errorf("pdusim agent: user %q: a key must have at least 8 characters", u.Name)
		}
		sp := &gosnmp.UsmSecurityParameters{
			UserName: u.Name, AuthoritativeEngineID: a.engineID,
			AuthenticationProtocol: u.Auth, AuthenticationPassphrase: u.AuthKey,
			PrivacyProtocol: u.Priv, PrivacyPassphrase: u.PrivKey,
		}
		if err := sp.InitSecurityKeys(); err != nil {
			return nil, fmt.Errorf("pdusim agent: user %q keys: %w", u.Name, err)
		}
		a.users[u.Name] = &usmUser{User: u, secretKey: sp.SecretKey, privKey: sp.PrivacyKey}
	}
	a.cfg = cfg
	return a, nil
}

// Addr is the agent's "127.0.0.1:port".
func (a *Agent) Addr() string { return a.addr.String() }

// Port is the agent's UDP port.
func (a *Agent) Port() int { return a.addr.Port }

// EngineID is the agent's snmpEngineID.
func (a *Agent) EngineID() []byte { return []byte(a.engineID) }

// Stats returns the agent's counters.
func (a *Agent) Stats() AgentStats {
	return AgentStats{
		Requests: a.requests.Load(), Answered: a.answered.Load(), Dropped: a.dropped.Load(),
		BadCommunity: a.badCommunity.Load(), UnknownEngineIDs: a.unknownEngine.Load(),
		UnknownUserNames: a.unknownUser.Load(), WrongDigests: a.wrongDigest.Load(),
		NotInTimeWindows: a.notInTime.Load(), DecryptionErrors: a.decryptErr.Load(),
		UnsupportedLevels: a.unsupportedLevel.Load(),
	}
}

func (a *Agent) listen(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.conn != nil {
		return nil
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", a.addr.String())
	if err != nil {
		return fmt.Errorf("pdusim agent listen %s: %w", a.addr, err)
	}
	conn := pc.(*net.UDPConn)
	a.conn = conn
	a.addr = conn.LocalAddr().(*net.UDPAddr)
	a.wg.Add(1)
	go a.serve(conn)
	return nil
}

// faultChanged closes the socket for FaultRefuse, so the kernel answers
// ICMP port unreachable as for a powered-off card, and reopens it after.
func (a *Agent) faultChanged(ctx context.Context, f Fault) {
	if f == FaultRefuse {
		a.mu.Lock()
		if a.conn != nil {
			_ = a.conn.Close()
			a.conn = nil
		}
		a.mu.Unlock()
		return
	}
	if err := a.listen(ctx); err != nil {
		a.log.Error("pdusim agent reopen", "err", err)
	}
}

// Close stops the agent.
func (a *Agent) Close() error {
	a.mu.Lock()
	a.closed = true
	if a.conn != nil {
		_ = a.conn.Close()
		a.conn = nil
	}
	a.mu.Unlock()
	a.wg.Wait()
	return nil
}

func (a *Agent) serve(conn *net.UDPConn) {
	defer a.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			a.log.Warn("pdusim agent read", "err", err)
			continue
		}
		out := a.safeHandle(buf[:n])
		if out != nil {
			if _, err := conn.WriteToUDP(out, from); err != nil {
				a.log.Warn("pdusim agent write", "err", err)
			}
		}
	}
}

// safeHandle keeps the agent alive whatever a datagram does to the codec;
// the fuzz test calls handle directly so a panic there is found.
func (a *Agent) safeHandle(b []byte) (out []byte) {
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("pdusim agent: panic on a datagram", "panic", r)
			a.dropped.Add(1)
			out = nil
		}
	}()
	return a.handle(b)
}

// handle answers one datagram, or returns nil to answer nothing.
func (a *Agent) handle(b []byte) []byte {
	a.requests.Add(1)
	out := a.handleInner(b)
	if out == nil {
		a.dropped.Add(1)
	} else {
		a.answered.Add(1)
	}
	return out
}

func (a *Agent) handleInner(b []byte) []byte {
	if len(b) < 2 || len(b) > maxDatagram || a.dev.Fault() == FaultTimeout {
		return nil
	}
	x := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
	p, err := x.SnmpDecodePacket(slices.Clone(b))
	if p == nil {
		return nil
	}
	switch {
	case p.Version == gosnmp.Version3:
		return a.handleV3(b)
	case err != nil:
		return nil
	case p.Version == gosnmp.Version1 || p.Version == gosnmp.Version2c:
		return a.handleCommunity(p)
	}
	return nil
}

func isRequest(t gosnmp.PDUType, v gosnmp.SnmpVersion) bool {
	switch t {
	case gosnmp.GetRequest, gosnmp.GetNextRequest, gosnmp.SetRequest:
		return true
	case gosnmp.GetBulkRequest:
		return v != gosnmp.Version1
	}
	return false
}

func (a *Agent) handleCommunity(p *gosnmp.SnmpPacket) []byte {
	if !isRequest(p.PDUType, p.Version) {
		return nil
	}
	write, read := eq(p.Community, a.cfg.WriteCommunity), eq(p.Community, a.cfg.ReadCommunity)
	if !write && !read {
		a.badCommunity.Add(1)
		return nil
	}
	proto := "snmpv2c"
	if p.Version == gosnmp.Version1 {
		proto = "snmpv1"
	}
	resp := a.process(p, write, proto, "")
	return a.fit(resp, communityMaxSize)
}

// eq compares a received secret with a configured one; an empty
// configured one matches nothing.
func eq(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// fit marshals resp within limit: a GETBULK answer loses trailing
// varbinds, anything else becomes tooBig (RFC 3416 4.2.1, 4.2.3).
func (a *Agent) fit(resp *gosnmp.SnmpPacket, limit int) []byte {
	for {
		out, err := resp.MarshalMsg()
		if err != nil {
			a.log.Warn("pdusim agent marshal", "err", err)
			return nil
		}
		if len(out) <= limit {
			return out
		}
		if resp.Error == gosnmp.NoError && len(resp.Variables) > 1 && resp.PDUType == gosnmp.GetResponse && resp.MaxRepetitions == bulkMarker {
			resp.Variables = resp.Variables[:len(resp.Variables)*3/4]
			continue
		}
		if resp.Error == gosnmp.TooBig {
			return nil
		}
		resp.Error, resp.ErrorIndex = gosnmp.TooBig, 0
		if resp.Version != gosnmp.Version1 {
			resp.Variables = nil
		}
	}
}

// bulkMarker tags a GETBULK's answer for fit (MaxRepetitions is not
// marshalled in a Response PDU).
const bulkMarker = 0x7fffffff

// --- SNMPv3 (RFC 3412, 3414) ---

// authConfiguredErr is how gosnmp v1.47.0's decoder stops at an
// authenticated header when no key is configured: the header up to the
// user name is parsed by then, which is all the first pass needs.
const authConfiguredErr = "authentication parameters are not configured"

// privConfiguredErr is where the decoder stops at an encrypted message's
// header when no privacy protocol is configured: after it blanked the MAC.
const privConfiguredErr = "privacy parameters are not configured"

func decodeV3(sp *gosnmp.UsmSecurityParameters, flags gosnmp.SnmpV3MsgFlags, b []byte) (*gosnmp.SnmpPacket, []byte, error) {
	buf := slices.Clone(b)
	x := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: flags, SecurityParameters: sp}
	p, err := x.SnmpDecodePacket(buf)
	return p, buf, err
}

// v3Msg is what pass 1 learns of a v3 message: enough to find the user
// and to address a Report.
type v3Msg struct {
	raw        []byte
	hdr        *gosnmp.SnmpPacket // pass 1's decode
	usm        *gosnmp.UsmSecurityParameters
	level      gosnmp.SnmpV3MsgFlags
	reportable bool
}

func (a *Agent) handleV3(b []byte) []byte {
	m := decodeV3Header(b)
	if m == nil {
		return nil
	}
	u, out := a.v3User(m)
	if u == nil {
		return out
	}
	req, out := a.v3Request(m, u)
	if req == nil {
		return out
	}
	if !isRequest(req.PDUType, req.Version) {
		return nil
	}
	return a.answerV3(m, u, req)
}

// decodeV3Header is pass 1: the header, to learn user, engine and flags.
// nil: drop the message.
func decodeV3Header(b []byte) *v3Msg {
	p, _, err := decodeV3(&gosnmp.UsmSecurityParameters{UserName: "-"}, gosnmp.NoAuthNoPriv, b)
	if p == nil || p.Version != gosnmp.Version3 || p.SecurityModel != gosnmp.UserSecurityModel {
		return nil
	}
	usm, ok := p.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	if !ok || usm == nil {
		return nil
	}
	level := p.MsgFlags & gosnmp.AuthPriv
	if level == 0x2 { // privacy without authentication: invalid message
		return nil
	}
	if err != nil && (level == gosnmp.NoAuthNoPriv || !strings.Contains(err.Error(), authConfiguredErr)) {
		return nil
	}
	return &v3Msg{raw: b, hdr: p, usm: usm, level: level, reportable: p.MsgFlags&gosnmp.Reportable != 0}
}

// refuse counts a refused message in c and, if the message is
// reportable, answers with a Report carrying the count.
func (a *Agent) refuse(m *v3Msg, oidName string, c *atomic.Int64, reqID uint32, u *usmUser, flags gosnmp.SnmpV3MsgFlags) []byte {
	n := c.Add(1)
	if !m.reportable {
		return nil
	}
	return a.report(m.hdr.MsgID, reqID, m.usm.UserName, u, flags, oidName, n)
}

// v3User is the message's user; nil, with a Report or nothing, when the
// engine ID, user name or security level is refused.
func (a *Agent) v3User(m *v3Msg) (*usmUser, []byte) {
	if m.usm.AuthoritativeEngineID != a.engineID {
		// Discovery (an empty engine ID) or a stale one.
		return nil, a.refuse(m, oidUnknownEngineIDs, &a.unknownEngine, m.hdr.RequestID, nil, gosnmp.NoAuthNoPriv)
	}
	u, ok := a.users[m.usm.UserName]
	if !ok {
		return nil, a.refuse(m, oidUnknownUserNames, &a.unknownUser, m.hdr.RequestID, nil, gosnmp.NoAuthNoPriv)
	}
	if (m.level&gosnmp.AuthNoPriv != 0 && u.Auth == gosnmp.NoAuth) || (m.level == gosnmp.AuthPriv && u.Priv == gosnmp.NoPriv) {
		return nil, a.refuse(m, oidUnsupportedSecLevels, &a.unsupportedLevel, m.hdr.RequestID, nil, gosnmp.NoAuthNoPriv)
	}
	return u, nil
}

// v3Request is the message's PDU once USM accepts it: pass 1's without
// authentication, else authenticated (pass 2) and decrypted (pass 3);
// nil, with a Report or nothing, when refused.
func (a *Agent) v3Request(m *v3Msg, u *usmUser) (*gosnmp.SnmpPacket, []byte) {
	if m.level == gosnmp.NoAuthNoPriv {
		return m.hdr, nil
	}
	// Pass 2: authenticate. The decoder blanks the MAC in its copy of
	// the message; decrypting nothing (NoPriv) keeps the rest intact,
	// which is what the digest covers.
	sp := &gosnmp.UsmSecurityParameters{UserName: u.Name, AuthoritativeEngineID: a.engineID,
		AuthenticationProtocol: u.Auth, SecretKey: u.secretKey, PrivacyProtocol: gosnmp.NoPriv}
	p2, blanked, err := decodeV3(sp, gosnmp.AuthNoPriv, m.raw)
	headerErr := err != nil && strings.HasPrefix(err.Error(), "unable to decode packet header") &&
		!(m.level == gosnmp.AuthPriv && strings.Contains(err.Error(), privConfiguredErr))
	if p2 == nil || headerErr {
		return nil, a.refuse(m, oidWrongDigests, &a.wrongDigest, 0, nil, gosnmp.NoAuthNoPriv)
	}
	if !hmac.Equal(digest(u.Auth, u.secretKey, blanked), []byte(m.usm.AuthenticationParameters)) {
		return nil, a.refuse(m, oidWrongDigests, &a.wrongDigest, 0, nil, gosnmp.NoAuthNoPriv)
	}
	now := a.engineTime()
	if m.usm.AuthoritativeEngineBoots != a.boots || absDiff(m.usm.AuthoritativeEngineTime, now) > timeWindow {
		return nil, a.refuse(m, oidNotInTimeWindows, &a.notInTime, 0, u, gosnmp.AuthNoPriv)
	}
	if m.level == gosnmp.AuthPriv {
		// Pass 2's error is ignored: it cannot read the encrypted PDU,
		// which pass 3 decodes.
		return a.decryptV3(m, u), nil
	}
	if err != nil {
		return nil, nil
	}
	return p2, nil
}

// decryptV3 is pass 3. A wrong privacy key yields garbage that does not
// parse: net-snmp drops such a message without a report
// (snmpInASNParseErrs), and so does the simulator.
func (a *Agent) decryptV3(m *v3Msg, u *usmUser) *gosnmp.SnmpPacket {
	sp := &gosnmp.UsmSecurityParameters{UserName: u.Name, AuthoritativeEngineID: a.engineID,
		AuthenticationProtocol: u.Auth, SecretKey: u.secretKey, PrivacyProtocol: u.Priv, PrivacyKey: u.privKey}
	p, _, err := decodeV3(sp, gosnmp.AuthPriv, m.raw)
	if err != nil || p == nil {
		a.decryptErr.Add(1)
		return nil
	}
	return p
}

// answerV3 processes an accepted request and marshals the answer, at the
// request's level, within the manager's msgMaxSize.
func (a *Agent) answerV3(m *v3Msg, u *usmUser, req *gosnmp.SnmpPacket) []byte {
	maxSize := maxDatagram
	if req.MsgMaxSize >= 484 && int(req.MsgMaxSize) < maxSize {
		maxSize = int(req.MsgMaxSize)
	}
	// A user's configured level is its minimum (net-snmp's rwuser/rouser
	// level): below it the request passes USM and fails access control.
	var resp *gosnmp.SnmpPacket
	if userLevel(u) > m.level {
		resp = &gosnmp.SnmpPacket{Version: gosnmp.Version3, PDUType: gosnmp.GetResponse, RequestID: req.RequestID,
			Error: gosnmp.AuthorizationError, ErrorIndex: 0, Variables: echo(req.Variables)}
	} else {
		resp = a.process(req, u.Write, "snmpv3", u.Name)
	}
	resp.Version = gosnmp.Version3
	resp.MsgID = req.MsgID
	resp.MsgFlags = m.level
	resp.SecurityModel = gosnmp.UserSecurityModel
	resp.ContextEngineID = a.engineID
	resp.ContextName = req.ContextName
	sp, err := a.responseParams(u, m.usm.UserName, m.level)
	if err != nil {
		a.log.Warn("pdusim agent v3 response", "err", err)
		return nil
	}
	resp.SecurityParameters = sp
	return a.fit(resp, maxSize)
}

func userLevel(u *usmUser) gosnmp.SnmpV3MsgFlags {
	switch {
	case u.Priv != gosnmp.NoPriv:
		return gosnmp.AuthPriv
	case u.Auth != gosnmp.NoAuth:
		return gosnmp.AuthNoPriv
	}
	return gosnmp.NoAuthNoPriv
}

func (a *Agent) engineTime() uint32 { return uint32(time.Since(a.start) / time.Second) }

func absDiff(x, y uint32) uint32 {
	if x > y {
		return x - y
	}
	return y - x
}

// responseParams are the USM parameters of an answer at level: for
// privacy, a fresh salt (RFC 3826 3.1.2.1, RFC 3414 8.1.1.1).
func (a *Agent) responseParams(u *usmUser, name string, level gosnmp.SnmpV3MsgFlags) (*gosnmp.UsmSecurityParameters, error) {
	sp := &gosnmp.UsmSecurityParameters{
		AuthoritativeEngineID: a.engineID, AuthoritativeEngineBoots: a.boots, AuthoritativeEngineTime: a.engineTime(),
		UserName: name, AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv,
	}
	if u != nil && level&gosnmp.AuthNoPriv != 0 {
		sp.AuthenticationProtocol, sp.SecretKey = u.Auth, u.secretKey
	}
	if u != nil && level == gosnmp.AuthPriv {
		sp.PrivacyProtocol, sp.PrivacyKey = u.Priv, u.privKey
		salt := make([]byte, 8)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("salt: %w", err)
		}
		if u.Priv == gosnmp.DES {
			salt[0], salt[1], salt[2], salt[3] = byte(a.boots>>24), byte(a.boots>>16), byte(a.boots>>8), byte(a.boots)
		}
		sp.PrivacyParameters = salt
	}
	return sp, nil
}

// report builds a Report PDU carrying one usmStats counter.
func (a *Agent) report(msgID, reqID uint32, name string, u *usmUser, level gosnmp.SnmpV3MsgFlags, oidName string, n int64) []byte {
	sp, err := a.responseParams(u, name, level)
	if err != nil {
		return nil
	}
	r := &gosnmp.SnmpPacket{
		Version: gosnmp.Version3, MsgID: msgID, MsgFlags: level, SecurityModel: gosnmp.UserSecurityModel,
		SecurityParameters: sp, ContextEngineID: a.engineID, PDUType: gosnmp.Report, RequestID: reqID,
		Variables: []gosnmp.SnmpPDU{{Name: oidName, Type: gosnmp.Counter32, Value: uint32(n)}},
	}
	out, err := r.MarshalMsg()
	if err != nil {
		a.log.Warn("pdusim agent report", "err", err)
		return nil
	}
	return out
}

// digest is the USM MAC of msg (with its MAC field zeroed): HMAC-MD5-96
// and HMAC-SHA-96 (RFC 3414), HMAC-SHA-2 truncated (RFC 7860).
func digest(p gosnmp.SnmpV3AuthProtocol, key, msg []byte) []byte {
	var h func() hash.Hash
	n := 0
	switch p {
	case gosnmp.MD5:
		h, n = md5.New, 12
	case gosnmp.SHA:
		h, n = sha1.New, 12
	case gosnmp.SHA224:
		h, n = sha256.New224, 16
	case gosnmp.SHA256:
		h, n = sha256.New, 24
	case gosnmp.SHA384:
		h, n = sha512.New384, 32
	case gosnmp.SHA512:
		h, n = sha512.New, 48
	default:
		return nil
	}
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)[:n]
}
