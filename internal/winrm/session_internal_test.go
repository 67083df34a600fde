package winrm

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
)

// countingCache counts the sessions the calls' handshakes find and store.
type countingCache struct {
	tls.ClientSessionCache
	mu         sync.Mutex
	hits, puts int
	keys       map[string]bool
}

func newCountingCache() *countingCache {
	return &countingCache{ClientSessionCache: tls.NewLRUClientSessionCache(64), keys: map[string]bool{}}
}

func (c *countingCache) Get(k string) (*tls.ClientSessionState, bool) {
	s, ok := c.ClientSessionCache.Get(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok && s != nil {
		c.hits++
	}
	return s, ok
}

func (c *countingCache) Put(k string, s *tls.ClientSessionState) {
	c.ClientSessionCache.Put(k, s)
	c.mu.Lock()
	defer c.mu.Unlock()
	if s != nil {
		c.puts++
		c.keys[k] = true
	}
}

// tlsRecorder is an HTTPS server that answers every request 401 without a
// challenge (the call fails: ErrAuthMethod) and records whether each
// request's connection resumed a TLS session.
type tlsRecorder struct {
	srv     *httptest.Server
	mu      sync.Mutex
	resumed []bool
}

func newTLSRecorder(t *testing.T) *tlsRecorder {
	r := &tlsRecorder{}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.resumed = append(r.resumed, req.TLS != nil && req.TLS.DidResume)
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *tlsRecorder) target(t *testing.T) Target {
	u, err := url.Parse(r.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw})
	return Target{Name: "rec", Address: "127.0.0.1", Port: port, UseSSL: true, Transport: TransportNTLM,
		User: "u", Password: "p", CACertPEM: ca}
}

func (r *tlsRecorder) log() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.resumed...)
}

func callOnce(t *testing.T, c *Client, tg Target) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Run(ctx, tg, "hostname", RunOptions{})
	if !errors.Is(err, ErrAuthMethod) {
		t.Fatalf("call: %v, want ErrAuthMethod from the recorder", err)
	}
}

// A Client's second call to a station resumes the TLS session of its
// first (a new connection, as before: only the handshake is shorter).
func TestTLSSession_Resumed(t *testing.T) {
	r := newTLSRecorder(t)
	c := New(Config{OperationTimeout: time.Second})
	tg := r.target(t)
	callOnce(t, c, tg)
	callOnce(t, c, tg)
	got := r.log()
	if len(got) != 2 || got[0] || !got[1] {
		t.Fatalf("resumed per request = %v, want [false true]", got)
	}
}

// Off (TLSSessionCache < 0): every call a full handshake.
func TestTLSSession_Off(t *testing.T) {
	r := newTLSRecorder(t)
	c := New(Config{OperationTimeout: time.Second, TLSSessionCache: -1})
	if c.sessions != nil {
		t.Fatal("session cache set with TLSSessionCache -1")
	}
	tg := r.target(t)
	callOnce(t, c, tg)
	callOnce(t, c, tg)
	if got := r.log(); len(got) != 2 || got[0] || got[1] {
		t.Fatalf("resumed per request = %v, want [false false]", got)
	}
}

// A session is offered only to the same station under the same trust: a
// target that differs in name, address, port, server name, CA bundle or
// skip-verify gets a full handshake, and a session from a skip-verify
// call is never offered to a verifying one.
func TestTLSSession_Scoped(t *testing.T) {
	r := newTLSRecorder(t)
	c := New(Config{OperationTimeout: time.Second})
	cc := newCountingCache()
	c.sessions = cc
	base := r.target(t)
	callOnce(t, c, base)
	if cc.puts == 0 {
		t.Fatal("no session stored after the first call")
	}

	otherName := base
	otherName.Name = "rec-2"
	otherSNI := base
	otherSNI.TLSServerName = "127.0.0.1" // same server name in effect, but another key: stricter is fine
	otherCA := base
	otherCA.CACertPEM = append(append([]byte(nil), base.CACertPEM...), '\n')
	insecure := base
	insecure.CACertPEM, insecure.InsecureSkipVerify = nil, true
	for _, tc := range []struct {
		name string
		tg   Target
	}{{"name", otherName}, {"server name", otherSNI}, {"CA bundle", otherCA}, {"skip-verify", insecure}} {
		hits := cc.hits
		n := len(r.log())
		callOnce(t, c, tc.tg)
		if cc.hits != hits || r.log()[n] {
			t.Errorf("%s differs: the session of another scope was offered or resumed", tc.name)
		}
	}
	// The insecure call stored its own session; the verifying base target
	// still resumes only its own.
	hits := cc.hits
	n := len(r.log())
	callOnce(t, c, base)
	if cc.hits != hits+1 || !r.log()[n] {
		t.Errorf("base target did not resume its own session (hits %d -> %d, resumed %v)", hits, cc.hits, r.log()[n])
	}

	keys := map[string]bool{}
	for _, tg := range []Target{base, otherName, otherSNI, otherCA, insecure,
		{Name: "rec", Address: "127.0.0.1", Port: base.Port + 1, CACertPEM: base.CACertPEM},
		{Name: "rec", Address: "127.0.0.2", Port: base.Port, CACertPEM: base.CACertPEM}} {
		k := tg.sessionKey(tg.CACertPEM)
		if keys[k] {
			t.Errorf("two targets share the session key %q", k)
		}
		keys[k] = true
	}
}

// Resumed connections still carry the channel binding a station with
// strict CBT (labsim's default, as Windows hardened) demands: the binding is
// to the certificate the resumed session remembers.
func TestTLSSession_StrictCBTStation(t *testing.T) {
	sim := labsimtest.Start(t, []labsim.HostOptions{{Name: "lab-ws-01"}}...)
	h := sim.Host("lab-ws-01")
	// No connection reuse: every call dials and resumes.
	c := New(Config{OperationTimeout: 5 * time.Second, MaxIdleConns: -1})
	cc := newCountingCache()
	c.sessions = cc
	tg := Target{Name: h.Name(), Address: "127.0.0.1", Port: h.HTTPSPort(), UseSSL: true, Transport: TransportNTLM,
		User: h.User(), Password: h.Password(), CACertPEM: sim.CACertPEM()}
	for i := range 3 {
		res, err := c.Run(context.Background(), tg, labsim.DefaultLabStationExe+" status", RunOptions{})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("call %d: %v (exit %d)", i+1, err, res.ExitCode)
		}
	}
	t.Logf("3 calls: %d session hits, %d sessions stored", cc.hits, cc.puts)
	if cc.hits < 2 {
		t.Errorf("%d session hits over 3 calls, want at least 2 (calls 2 and 3 resume)", cc.hits)
	}
}
