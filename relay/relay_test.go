package relay_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/lab/direct"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/logtest"
	"github.com/ops-worker/ops-worker/internal/relayclient"
	"github.com/ops-worker/ops-worker/internal/relayproto"
	"github.com/ops-worker/ops-worker/internal/relaytest"
	"github.com/ops-worker/ops-worker/relay"
)

var (
	secretNew = strings.Repeat("n", 40)
	secretOld = strings.Repeat("o", 40)
)

type env struct {
	sim    *labsim.Sim
	url    string
	relay  *relay.Server
	direct *direct.Direct
	cat    *hosts.Catalog
	logs   *logtest.Buffer
}

// start runs labsim (lab-ws-01 awake, lab-ws-02 asleep) and a relay on
// loopback whose catalog is labsim's hosts.json and whose subnet is
// 127.0.0.0/8.
func start(t *testing.T, secrets ...string) *env {
	t.Helper()
	sim, err := labsim.Start(context.Background(), labsim.Options{Hosts: []labsim.HostOptions{
		{Name: "lab-ws-01"}, {Name: "lab-ws-02", Asleep: true, BootDelay: 200 * time.Millisecond},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	doc, err := sim.HostsJSON()
	if err != nil {
		t.Fatal(err)
	}
	r := relaytest.Start(t, doc, secrets...)
	s := r.Server()
	return &env{sim: sim, url: r.URL, relay: s, direct: s.Lab.(*direct.Direct), cat: s.Catalog, logs: r.Logs}
}

func (e *env) client(secret string) *relayclient.Client {
	return &relayclient.Client{URL: e.url, Secret: []byte(secret)}
}

// worker is the worker's view of a host: its name only.
func worker(name string) hosts.Host { return hosts.Host{Name: name} }

func TestRelay_DrivesLabsim(t *testing.T) {
	e := start(t, secretNew)
	c := e.client(secretNew)
	ctx := context.Background()

	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := c.Reachable(ctx, worker("lab-ws-02"), 200*time.Millisecond); !errors.Is(err, lab.ErrUnreachable) {
		t.Fatalf("Reachable of a sleeping station: %v, want ErrUnreachable", err)
	}
	w, err := c.Wake(ctx, worker("lab-ws-02"), lab.WakeOptions{PingTimeout: time.Second, Attempts: 5})
	if err != nil || !w.Success || e.sim.Host("lab-ws-02").Asleep() {
		t.Fatalf("Wake: %+v, %v; asleep %v", w, err, e.sim.Host("lab-ws-02").Asleep())
	}
	if by, err := c.Reachable(ctx, worker("lab-ws-02"), time.Second); err != nil || by != "tcp" {
		t.Fatalf("Reachable after wake: %q, %v", by, err)
	}

	// The same calls directly and through the relay give the same results
	// (durations aside).
	h1, _ := e.cat.Get("lab-ws-01")
	viaRelay, err := c.RunCommand(ctx, worker("lab-ws-01"), "status", nil, lab.CommandOptions{})
	if err != nil {
		t.Fatalf("RunCommand: %v", err)
	}
	direct, err := e.direct.RunCommand(ctx, h1, "status", nil, lab.CommandOptions{})
	if err != nil {
		t.Fatal(err)
	}
	viaRelay.Duration, direct.Duration = 0, 0
	if !jsonEqual(viaRelay, direct) {
		t.Errorf("command via relay = %+v, direct = %+v", viaRelay, direct)
	}
	cmds := e.sim.Host("lab-ws-01").Commands()
	if len(cmds) != 2 || !strings.Contains(cmds[0].CommandLine, "status") {
		t.Errorf("labsim received %+v, want status twice", cmds)
	}

	hbRelay, err := c.ReadHeartbeat(ctx, worker("lab-ws-01"), true)
	if err != nil {
		t.Fatalf("ReadHeartbeat: %v", err)
	}
	hbDirect, err := e.direct.ReadHeartbeat(ctx, h1, true)
	if err != nil {
		t.Fatal(err)
	}
	hbRelay.Duration, hbDirect.Duration = 0, 0
	if !jsonEqual(hbRelay, hbDirect) {
		t.Errorf("heartbeat via relay = %+v\ndirect = %+v", hbRelay, hbDirect)
	}

	batch := c.ReadHeartbeats(ctx, []hosts.Host{worker("lab-ws-01"), worker("lab-ws-02")}, true)
	if len(batch) != 2 || batch[0].Err != nil || batch[1].Err != nil || batch[1].Host != "lab-ws-02" || batch[0].Read.Heartbeat == nil {
		t.Fatalf("batch: %+v", batch)
	}

	// A refusal of the station's own rules comes back as its lab kind.
	if _, err := c.RunCommand(ctx, worker("lab-ws-01"), "format-c", nil, lab.CommandOptions{}); !errors.Is(err, lab.ErrCommandNotAllowed) {
		t.Errorf("disallowed command: %v, want ErrCommandNotAllowed", err)
	}
	if _, err := c.RunCommand(ctx, worker("lab-ws-01"), "status", nil, lab.CommandOptions{User: "x", Password: "y"}); !errors.Is(err, lab.ErrPolicy) {
		t.Errorf("credential override: %v, want ErrPolicy", err)
	}
	if strings.Contains(e.logs.String(), e.sim.Host("lab-ws-01").Password()) || strings.Contains(e.logs.String(), secretNew) {
		t.Errorf("the audit log holds a secret")
	}
	if n := strings.Count(e.logs.String(), `"msg":"relay audit"`); n < 8 {
		t.Errorf("%d audit lines, want one per request", n)
	}
}

func TestRelay_Unreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := &relayclient.Client{URL: url, Secret: []byte(secretNew)}
	_, err := c.RunCommand(context.Background(), worker("lab-ws-01"), "status", nil, lab.CommandOptions{})
	if !errors.Is(err, lab.ErrRelayUnreachable) {
		t.Errorf("err = %v, want ErrRelayUnreachable", err)
	}
	for _, r := range c.ReadHeartbeats(context.Background(), []hosts.Host{worker("a"), worker("b")}, false) {
		if !errors.Is(r.Err, lab.ErrRelayUnreachable) {
			t.Errorf("batch %s: %v", r.Host, r.Err)
		}
	}
}

type rawReq struct {
	method, path, query string
	body                []byte
	ts                  int64
	nonce               string
	secret              string
	relay               string // signed for; "": the URL's host
	url                 string // the relay's base URL; "": e's
	// tamper changes the request after signing.
	tamper func(r *http.Request)
}

func (e *env) send(t *testing.T, rq rawReq) (int, string) {
	t.Helper()
	if rq.ts == 0 {
		rq.ts = time.Now().Unix()
	}
	if rq.nonce == "" {
		rq.nonce = relayproto.NewNonce()
	}
	if rq.secret == "" {
		rq.secret = secretNew
	}
	u := cmp.Or(rq.url, e.url) + rq.path
	if rq.query != "" {
		u += "?" + rq.query
	}
	req, err := http.NewRequest(rq.method, u, bytes.NewReader(rq.body))
	if err != nil {
		t.Fatal(err)
	}
	relay := cmp.Or(rq.relay, relayproto.RelayID(req.URL.Hostname()))
	c := relayproto.Canonical(relay, rq.method, req.URL.EscapedPath(), req.URL.RawQuery, rq.ts, rq.nonce, sha256.Sum256(rq.body))
	req.Header.Set(relayproto.HeaderRelay, relay)
	req.Header.Set(relayproto.HeaderTimestamp, strconv.FormatInt(rq.ts, 10))
	req.Header.Set(relayproto.HeaderNonce, rq.nonce)
	req.Header.Set(relayproto.HeaderSignature, "v2="+hex.EncodeToString(relayproto.MAC([]byte(rq.secret), c)))
	if rq.tamper != nil {
		rq.tamper(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func TestRelay_Refusals(t *testing.T) {
	e := start(t, secretNew)
	cmd := mustJSON(relayproto.CommandRequest{Host: "lab-ws-01", Command: "status", Args: []string{}})
	wakeBody := mustJSON(relayproto.WakeRequest{Host: "lab-ws-02", PingTimeoutMS: 300, Attempts: 1})
	replayNonce := relayproto.NewNonce()
	if code, body := e.send(t, rawReq{method: "POST", path: relayproto.PathHeartbeat, body: mustJSON(relayproto.HeartbeatRequest{Host: "lab-ws-01"}), nonce: replayNonce}); code != 200 {
		t.Fatalf("first use of the nonce: %d %s", code, body)
	}
	before := len(e.sim.Host("lab-ws-01").Commands())
	beforeHTTP := e.sim.Host("lab-ws-01").HTTPRequests()

	cases := []struct {
		name string
		rq   rawReq
		want int
	}{
		{"no signature", rawReq{method: "POST", path: relayproto.PathCommand, body: cmd, tamper: func(r *http.Request) {
			r.Header.Del(relayproto.HeaderSignature)
			r.Header.Del(relayproto.HeaderNonce)
			r.Header.Del(relayproto.HeaderTimestamp)
		}}, 401},
		{"bad MAC", rawReq{method: "POST", path: relayproto.PathCommand, body: cmd, secret: strings.Repeat("x", 40)}, 401},
		{"old timestamp", rawReq{method: "POST", path: relayproto.PathCommand, body: cmd, ts: time.Now().Add(-61 * time.Second).Unix()}, 401},
		{"future timestamp", rawReq{method: "POST", path: relayproto.PathCommand, body: cmd, ts: time.Now().Add(62 * time.Second).Unix()}, 401},
		{"replayed nonce", rawReq{method: "POST", path: relayproto.PathCommand, body: cmd, nonce: replayNonce}, 401},
		{"tampered body", rawReq{method: "POST", path: relayproto.PathCommand, body: cmd, tamper: func(r *http.Request) {
			b := bytes.Replace(cmd, []byte("status"), []byte("statuz"), 1)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}}, 401},
		{"tampered path", rawReq{method: "POST", path: relayproto.PathHeartbeat, body: cmd, tamper: func(r *http.Request) {
			r.URL.Path = relayproto.PathCommand
		}}, 401},
		{"tampered query", rawReq{method: "POST", path: relayproto.PathCommand, query: "a=1", body: cmd, tamper: func(r *http.Request) {
			r.URL.RawQuery = "a=2"
		}}, 401},
		{"host not in catalog", rawReq{method: "POST", path: relayproto.PathCommand, body: mustJSON(relayproto.CommandRequest{Host: "lab-ws-99", Command: "status"})}, 403},
		{"broadcast outside subnets", rawReq{method: "POST", path: relayproto.PathWake, body: mustJSON(relayproto.WakeRequest{Host: "lab-ws-02", Broadcast: "10.9.9.255", Attempts: 1})}, 403},
		{"limited broadcast outside subnets", rawReq{method: "POST", path: relayproto.PathWake, body: mustJSON(relayproto.WakeRequest{Host: "lab-ws-02", Broadcast: "255.255.255.255", Attempts: 1})}, 403},
		{"oversized body", rawReq{method: "POST", path: relayproto.PathCommand, body: append(bytes.Repeat([]byte(" "), relayproto.MaxBody), cmd...)}, 413},
		{"ping target outside subnets", rawReq{method: "POST", path: relayproto.PathWake, body: mustJSON(relayproto.WakeRequest{Host: "lab-ws-02", PingTarget: "192.0.2.7", Attempts: 1})}, 403},
		{"batch naming a host outside the catalog", rawReq{method: "POST", path: relayproto.PathHeartbeats, body: mustJSON(relayproto.BatchRequest{Hosts: []string{"lab-ws-01", "lab-ws-99"}})}, 403},
		{"unknown field", rawReq{method: "POST", path: relayproto.PathCommand, body: []byte(`{"host":"lab-ws-01","command":"status","password":"x"}`)}, 400},
		{"wake not signed", rawReq{method: "POST", path: relayproto.PathWake, body: wakeBody, secret: strings.Repeat("x", 40)}, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.send(t, tc.rq)
			if code != tc.want {
				t.Errorf("status %d (%s), want %d", code, body, tc.want)
			}
			var er relayproto.Error
			if err := json.Unmarshal([]byte(body), &er); err != nil || er.Kind == "" || er.Message == "" {
				t.Errorf("answer %s is not the error shape", body)
			}
		})
	}
	// One audit line per request, refused ones included (the first use of
	// the nonce above is one more).
	if n := strings.Count(e.logs.String(), `"msg":"relay audit"`); n != len(cases)+1 {
		t.Errorf("%d audit lines for %d requests", n, len(cases)+1)
	}
	time.Sleep(400 * time.Millisecond) // a wake that got through would have booted it
	if got := len(e.sim.Host("lab-ws-01").Commands()); got != before {
		t.Errorf("labsim received %d commands, want %d: %+v", got, before, e.sim.Host("lab-ws-01").Commands())
	}
	if got := e.sim.Host("lab-ws-01").HTTPRequests(); got != beforeHTTP {
		t.Errorf("labsim received %d WinRM requests after the refusals", got-beforeHTTP)
	}
	if !e.sim.Host("lab-ws-02").Asleep() {
		t.Errorf("lab-ws-02 woke: a refused magic packet was sent")
	}
	if len(e.sim.Host("lab-ws-02").Commands()) != 0 {
		t.Errorf("lab-ws-02 received commands")
	}
}

func TestRelay_SecretRotation(t *testing.T) {
	ctx := context.Background()
	e := start(t, secretNew, secretOld)
	for _, s := range []string{secretNew, secretOld} {
		if err := e.client(s).Ping(ctx); err != nil {
			t.Errorf("during rotation, secret %q...: %v", s[:1], err)
		}
	}
	// The rotation ends: the relay restarts with the new secret only.
	e.relay.Verifier.Secrets = [][]byte{[]byte(secretNew)}
	if err := e.client(secretNew).Ping(ctx); err != nil {
		t.Errorf("new secret after rotation: %v", err)
	}
	err := e.client(secretOld).Ping(ctx)
	if !errors.Is(err, lab.ErrConfig) || !strings.Contains(err.Error(), "signature") {
		t.Errorf("old secret after rotation: %v, want a signature refusal (ErrConfig)", err)
	}
}

func TestConfig_PlainHTTPOnlyOnLoopback(t *testing.T) {
	subnets, _ := relay.ParseSubnets("10.1.2.0/24")
	c := relay.Config{Listen: "0.0.0.0:8740", Secrets: []string{secretNew}, HostsPath: "x", Subnets: subnets}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("plain HTTP on 0.0.0.0: %v", err)
	}
	for _, l := range []string{"127.0.0.1:8740", "[::1]:8740", "localhost:8740"} {
		c.Listen = l
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
	c.Listen, c.TLSCert, c.TLSKey = "0.0.0.0:8740", "cert.pem", "key.pem"
	if err := c.Validate(); err != nil {
		t.Errorf("TLS on 0.0.0.0: %v", err)
	}
	c.Secrets = []string{"short"}
	if err := c.Validate(); err == nil {
		t.Errorf("short secret accepted")
	}
	c.Secrets = []string{secretNew, secretOld, secretNew}
	if err := c.Validate(); err == nil {
		t.Errorf("three secrets accepted")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"host":"lab-ws-01","command":"status","args":["a"],"options":{"use_ssl":true}}`))
	f.Add([]byte(`{"hosts":["a","b"],"include_events":true}`))
	f.Add([]byte(`{"host":"x","broadcast":"10.1.2.255","ping_timeout_ms":5} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []any{&relayproto.CommandRequest{}, &relayproto.WakeRequest{}, &relayproto.BatchRequest{},
			&relayproto.HeartbeatRequest{}, &relayproto.ReachableRequest{}} {
			if err := relay.Decode(b, v); err == nil {
				// What decodes re-encodes and decodes to the same value.
				again := mustJSON(v)
				if err := relay.Decode(again, v); err != nil {
					t.Fatalf("re-decode of %s: %v", again, err)
				}
			}
		}
	})
}

func jsonEqual(a, b any) bool { return bytes.Equal(mustJSON(a), mustJSON(b)) }

// blockLab holds every command until release is closed, and records how
// many ran at once.
type blockLab struct {
	nopLab
	release chan struct{}
	mu      sync.Mutex
	now     int
	max     int
}

func (l *blockLab) RunCommand(ctx context.Context, h hosts.Host, c string, a []string, o lab.CommandOptions) (lab.CommandResult, error) {
	l.mu.Lock()
	l.now++
	l.max = max(l.max, l.now)
	l.mu.Unlock()
	<-l.release
	l.mu.Lock()
	l.now--
	l.mu.Unlock()
	return lab.CommandResult{}, nil
}

func TestRelay_TwoInFlightPerHost(t *testing.T) {
	cat, _, err := hosts.Parse([]byte(`{"hosts":[{"name":"a","address":"10.1.2.1","labs":["1"]},{"name":"b","address":"10.1.2.2","labs":["2"]}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &blockLab{release: make(chan struct{})}
	s := &relay.Server{Catalog: cat, Lab: l, Logger: slog.New(slog.DiscardHandler),
		Verifier: &relayproto.Verifier{Secrets: [][]byte{[]byte(secretNew)}, Replay: &relayproto.ReplayCache{}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := &relayclient.Client{URL: srv.URL, Secret: []byte(secretNew)}
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if _, err := c.RunCommand(context.Background(), hosts.Host{Name: "a"}, "status", nil, lab.CommandOptions{}); err != nil {
				t.Errorf("command %d: %v", i, err)
			}
		})
	}
	wg.Go(func() {
		if _, err := c.RunCommand(context.Background(), hosts.Host{Name: "b"}, "status", nil, lab.CommandOptions{}); err != nil {
			t.Errorf("command on b: %v", err)
		}
	})
	running := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.now
	}
	for deadline := time.Now().Add(5 * time.Second); running() < 3 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a third on host a would have started by now
	close(l.release)
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max != 3 { // two on a, one on b
		t.Errorf("at most %d running at once, want 2 on host a + 1 on host b", l.max)
	}
}
