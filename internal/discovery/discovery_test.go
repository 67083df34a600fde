package discovery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/discovery"
	"github.com/ops-worker/ops-worker/internal/fixtures"
	"github.com/ops-worker/ops-worker/internal/netaddr"
)

// countingListener counts the connections accepted on a loopback port.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

func listen(t *testing.T) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	t.Cleanup(func() { _ = ln.Close() })
	return cl
}

func port(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }

// serve runs h on a counting loopback listener.
func serve(t *testing.T, h http.HandlerFunc) *countingListener {
	t.Helper()
	l := listen(t)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l
}

// acceptOnly accepts and holds connections (a WinRM port for the TCP probe).
func acceptOnly(t *testing.T) *countingListener {
	t.Helper()
	l := listen(t)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	return l
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l := listen(t)
	p := port(l)
	_ = l.Close()
	return p
}

const healthBody = `{"service":"LabStation","status":"ok","version":"3.2.0","host":"LAB-WS-01",
 "status_detail":{"wake":{"nicPower":[{"name":"Ethernet","macAddress":"02-00-00-00-00-01","status":"Up","wolReady":true,"wakeArmed":true}]}}}`

func labStation(path, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

// fakeResolver answers from a map and NXDOMAIN otherwise; it never asks DNS.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return append([]netip.Addr(nil), a...), nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

var loop = netip.MustParseAddr("127.0.0.1")

func prober(winrm int, ports ...int) *discovery.Prober {
	return &discovery.Prober{Config: discovery.Config{
		Timeout: 300 * time.Millisecond, WinRMPort: winrm, LabStationPorts: ports,
		Resolver: fakeResolver{"lab-ws-01.lab.example": {loop}, "far.lab.example": {netip.MustParseAddr("10.9.9.9")}},
	}}
}

func TestProbe_LabStation(t *testing.T) {
	winrm := acceptOnly(t)
	// The first port answers 404 to both paths, the second is a Lab Station
	// on its second path: the order is kept and the second port wins.
	other := serve(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	ls := serve(t, labStation("/health", healthBody))
	p := prober(port(winrm), port(other), port(ls))
	res, err := p.Probe(context.Background(), "lab-ws-01.lab.example")
	if err != nil {
		t.Fatal(err)
	}
	if !res.DNS || !res.WinRM[strconv.Itoa(port(winrm))] {
		t.Fatalf("dns/winrm: %+v", res)
	}
	h := res.LabStationHTTP
	wantURL := fmt.Sprintf("http://lab-ws-01.lab.example:%d/health", port(ls))
	if !h.Checked || !h.Detected || h.URL != wantURL || h.StatusCode != 200 || h.Service != "LabStation" {
		t.Fatalf("labStationHttp: %+v", h)
	}
	if got := discovery.Status(res, false); got != discovery.StatusDetected {
		t.Errorf("status %q", got)
	}
	b, _ := json.Marshal(res)
	for _, want := range []string{`"dns":true`, `"winrm":{"` + strconv.Itoa(port(winrm)) + `":true}`, `"url":"` + wantURL + `"`, `"statusCode":200`, `"service":"LabStation"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	var back discovery.Result
	if err := json.Unmarshal(b, &back); err != nil || back.LabStationHTTP != res.LabStationHTTP {
		t.Errorf("round trip: %v %+v", err, back.LabStationHTTP)
	}
}

func TestProbe_SuggestsMACFromHealth(t *testing.T) {
	body := `{"service":"LabStation","status":{"wake":{"nicPower":[{"name":"Wi-Fi","macAddress":"02-00-00-00-00-09","status":"Up"},` +
		`{"name":"Ethernet","macAddress":"02-00-00-00-00-01","status":"Up","wolReady":true,"wakeArmed":true}]}}}`
	ls := serve(t, labStation("/labstation/health", body))
	res, err := prober(closedPort(t), port(ls)).Probe(context.Background(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	m := res.LabStationHTTP.SuggestedMAC
	if m == nil || m.MAC != "02:00:00:00:00:01" || m.Source != discovery.SourceStatusWake || m.Adapter.Name != "Ethernet" {
		t.Fatalf("suggestedMac %+v", m)
	}
	if got := discovery.Status(res, false); got != discovery.StatusDetectedWithoutWinRM {
		t.Errorf("status %q", got)
	}
}

func TestProbe_NotALabStation(t *testing.T) {
	web := serve(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"service":"nginx"}`)) })
	res, err := prober(closedPort(t), port(web)).Probe(context.Background(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if h := res.LabStationHTTP; !h.Checked || h.Detected || h.Status != discovery.HTTPNoResponse {
		t.Fatalf("%+v", h)
	}
	if res.WinRMReachable() {
		t.Error("closed WinRM port reported open")
	}
	if got := discovery.Status(res, false); got != discovery.StatusHostResolves {
		t.Errorf("status %q", got)
	}
	b, _ := json.Marshal(res.LabStationHTTP)
	if string(b) != `{"checked":true,"detected":false,"status":"no-response"}` {
		t.Errorf("JSON %s", b)
	}
}

func TestProbe_RedirectNotFollowed(t *testing.T) {
	ls := serve(t, labStation("/elsewhere", healthBody))
	redir := serve(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fmt.Sprintf("http://127.0.0.1:%d/elsewhere", port(ls)), http.StatusFound)
	})
	res, err := prober(closedPort(t), port(redir)).Probe(context.Background(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if res.LabStationHTTP.Detected || ls.accepted.Load() != 0 {
		t.Fatalf("redirect followed: %+v, %d accepts", res.LabStationHTTP, ls.accepted.Load())
	}
}

func TestProbe_HangingServerIsBounded(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	hang := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	p := prober(closedPort(t), port(hang))
	start := time.Now()
	res, err := p.Probe(context.Background(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	// One timeout for the first path; the port is then not asked again.
	if d := time.Since(start); d > 3*p.Timeout {
		t.Errorf("took %v, want about one timeout (%v)", d, p.Timeout)
	}
	if res.LabStationHTTP.Detected {
		t.Error("hanging server detected")
	}
}

func TestProbe_HugeBodyNotDetected(t *testing.T) {
	// 10 MB that say labstation at the very end: past the limit, not read.
	huge := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		for range 10 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		_, _ = w.Write([]byte("labstation"))
	})
	res, err := prober(closedPort(t), port(huge)).Probe(context.Background(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if res.LabStationHTTP.Detected {
		t.Fatalf("huge body detected: %+v", res.LabStationHTTP)
	}
}

func TestProbe_ClosedPorts(t *testing.T) {
	res, err := prober(closedPort(t), closedPort(t), closedPort(t)).Probe(context.Background(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if res.WinRMReachable() || res.LabStationHTTP.Detected || !res.LabStationHTTP.Checked {
		t.Fatalf("%+v", res)
	}
}

func TestProbe_NameDoesNotResolve(t *testing.T) {
	ls := serve(t, labStation("/labstation/health", healthBody))
	res, err := prober(port(ls), port(ls)).Probe(context.Background(), "nowhere.lab.example")
	if err != nil {
		t.Fatal(err)
	}
	if res.DNS || res.LabStationHTTP.Checked || res.LabStationHTTP.Status != discovery.HTTPUnresolved || ls.accepted.Load() != 0 {
		t.Fatalf("%+v, %d accepts", res, ls.accepted.Load())
	}
	if got := discovery.Status(res, false); got != discovery.StatusNoResponse {
		t.Errorf("status %q", got)
	}
}

func TestProbe_OutsideStationPrefixesNothingDialled(t *testing.T) {
	ls := serve(t, labStation("/labstation/health", healthBody))
	winrm := acceptOnly(t)
	p := prober(port(winrm), port(ls))
	p.StationPrefixes = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	var dials atomic.Int64
	p.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	res, err := p.Probe(context.Background(), "lab-ws-01.lab.example") // resolves to 127.0.0.1
	if err != nil {
		t.Fatal(err)
	}
	if res.Refused == "" || !strings.Contains(res.Refused, "outside the station networks") {
		t.Errorf("refused %q", res.Refused)
	}
	if n := dials.Load() + ls.accepted.Load() + winrm.accepted.Load(); n != 0 {
		t.Errorf("%d dials or accepts outside the station networks", n)
	}
	if res.LabStationHTTP.Checked || res.WinRMReachable() {
		t.Errorf("%+v", res)
	}
	// Inside the prefix, the same prober probes.
	p.StationPrefixes = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	if res, err = p.Probe(context.Background(), "lab-ws-01.lab.example"); err != nil || !res.LabStationHTTP.Detected || dials.Load() == 0 {
		t.Errorf("inside: %v %+v", err, res)
	}
}

func TestProbe_DialsTheCheckedAddress(t *testing.T) {
	ls := serve(t, labStation("/labstation/health", healthBody))
	p := prober(closedPort(t), port(ls))
	var dials atomic.Int64
	p.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("dialled %q, not the resolved address", addr) // the name again: a rebinding window
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	res, err := p.Probe(context.Background(), "lab-ws-01.lab.example")
	if err != nil || !res.LabStationHTTP.Detected || dials.Load() < 2 {
		t.Fatalf("%v %+v, %d dials", err, res, dials.Load())
	}
}

func TestProbe_HostileHostname(t *testing.T) {
	ls := serve(t, labStation("/labstation/health", healthBody))
	p := prober(port(ls), port(ls))
	for _, h := range []string{"", "a b", "x;rm -rf /", "127.0.0.1:80", "http://x", "[::1]", "host\n", strings.Repeat("a", 300), "10.0.0.300"} {
		if _, err := p.Probe(context.Background(), h); !errors.Is(err, netaddr.ErrInvalidHost) {
			t.Errorf("%q: %v", h, err)
		}
	}
	if ls.accepted.Load() != 0 {
		t.Errorf("%d accepts for hostile names", ls.accepted.Load())
	}
}

func TestProbe_RefusesUnspecified(t *testing.T) {
	p := prober(closedPort(t), closedPort(t))
	p.Resolver = fakeResolver{"zero.example": {netip.MustParseAddr("0.0.0.0")}}
	res, err := p.Probe(context.Background(), "zero.example")
	if err != nil || res.Refused == "" {
		t.Fatalf("%v %+v", err, res)
	}
}

func TestStatusLadder(t *testing.T) {
	up := map[string]bool{"5986": true}
	down := map[string]bool{"5986": false}
	det := discovery.HTTPCheck{Checked: true, Detected: true}
	for _, c := range []struct {
		r    discovery.Result
		hb   bool
		want string
	}{
		{discovery.Result{DNS: true, WinRM: up, LabStationHTTP: det}, false, discovery.StatusDetected},
		{discovery.Result{DNS: true, WinRM: up}, true, discovery.StatusDetected},
		{discovery.Result{DNS: true, WinRM: up}, false, discovery.StatusWinRMReachable},
		{discovery.Result{DNS: true, WinRM: down, LabStationHTTP: det}, false, discovery.StatusDetectedWithoutWinRM},
		{discovery.Result{DNS: true, WinRM: down}, true, discovery.StatusHostResolves},
		{discovery.Result{WinRM: down}, false, discovery.StatusNoResponse},
	} {
		if got := discovery.Status(c.r, c.hb); got != c.want {
			t.Errorf("%+v hb=%v: %q, want %q", c.r, c.hb, got, c.want)
		}
	}
}

func TestLooksLikeLabStation(t *testing.T) {
	for _, c := range []struct {
		body    string
		want    bool
		service string
	}{
		{`{"service":"labstation"}`, true, "labstation"},
		{`{"name":"LABSTATION"}`, true, "LABSTATION"},
		{`{"app":"x","info":"LabStation agent"}`, true, "x"},
		{`{"service":"nginx"}`, false, "nginx"},
		{`<html>Welcome to LabStation</html>`, true, ""},
		{`{"service":"lab\u0073tation"}`, true, "labstation"},
		{`[1,2]`, false, ""},
		{``, false, ""},
	} {
		got, svc := discovery.LooksLikeLabStation([]byte(c.body))
		if got != c.want || svc != c.service {
			t.Errorf("%s: %v %q, want %v %q", c.body, got, svc, c.want, c.service)
		}
	}
}

func TestSuggestMAC(t *testing.T) {
	fixture, err := fixtures.Read(fixtures.Heartbeat)
	if err != nil {
		t.Fatal(err)
	}
	// The fixture's adapter has no MAC: nothing to suggest.
	if m := discovery.SuggestMAC(fixture); m != nil {
		t.Errorf("fixture: %+v", m)
	}
	top := `{"wake":{"nicPower":[{"name":"A","mac":"AA-BB-CC-DD-EE-F0","status":"Disconnected","wakeArmed":"yes"},` +
		`{"interfaceAlias":"B","physicalAddress":"02:11:22:33:44:55","status":"up","wolReady":"1"},` +
		`{"name":"C","macAddress":"ff-ff-ff-ff-ff-ff","status":"Up","wolReady":true},` +
		`{"name":"D","macAddress":"not a mac","wolReady":true}, 7, null]}}`
	m := discovery.SuggestMAC(json.RawMessage(top))
	want := &discovery.MACSuggestion{MAC: "02:11:22:33:44:55", Source: discovery.SourceWake,
		Adapter: discovery.Adapter{MAC: "02:11:22:33:44:55", Name: "B", Status: "up", WOLReady: true}}
	if m == nil || *m != *want {
		t.Errorf("got %+v, want %+v", m, want)
	}
	// Equal scores: the first listed, status before top level.
	both := `{"status":{"wake":{"nicPower":[{"macAddress":"02-00-00-00-00-02","status":"Up"}]}},` +
		`"wake":{"nicPower":[{"macAddress":"02-00-00-00-00-03","status":"Up"}]}}`
	if m := discovery.SuggestMAC(json.RawMessage(both)); m == nil || m.MAC != "02:00:00:00:00:02" || m.Source != discovery.SourceStatusWake {
		t.Errorf("both: %+v", m)
	}
	for _, bad := range []string{``, `null`, `[]`, `{"wake":7}`, `{"wake":{"nicPower":{}}}`, `{"status":"x","wake":{"nicPower":[{"mac":1}]}}`} {
		if m := discovery.SuggestMAC(json.RawMessage(bad)); m != nil {
			t.Errorf("%s: %+v", bad, m)
		}
	}
}

func FuzzSuggestMAC(f *testing.F) {
	f.Add([]byte(`{"status":{"wake":{"nicPower":[{"macAddress":"02-00-00-00-00-01","status":"Up","wolReady":true}]}}}`))
	f.Add([]byte(`{"wake":{"nicPower":[{"mac":"02:00:00:00:00:01"}]}}`))
	f.Add([]byte(`{"wake":{"nicPower":[null,1,"x",{"mac":{}}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := discovery.SuggestMAC(b)
		if m == nil {
			return
		}
		hw, err := netaddr.ParseMAC(m.MAC)
		if err != nil || hw.String() != m.MAC || m.Adapter.MAC != m.MAC {
			t.Fatalf("suggested %+v: %v", m, err)
		}
		if m.Source != discovery.SourceWake && m.Source != discovery.SourceStatusWake {
			t.Fatalf("source %q", m.Source)
		}
	})
}

func FuzzLooksLikeLabStation(f *testing.F) {
	f.Add([]byte(healthBody))
	f.Add([]byte(`{"service":1}`))
	f.Add([]byte("\xff\xfe labstation"))
	f.Fuzz(func(t *testing.T, b []byte) {
		detected, service := discovery.LooksLikeLabStation(b)
		if strings.EqualFold(service, "labstation") && !detected {
			t.Fatal("service labstation not detected")
		}
		if bytes.Contains(bytes.ToLower(b), []byte("labstation")) && !detected {
			t.Fatal("body mentions labstation, not detected")
		}
	})
}

func TestCheckPath(t *testing.T) {
	for _, ok := range []string{"/health", "/labstation/health", "/a-b_c.d"} {
		if err := discovery.CheckPath(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "health", "/a/../b", "/./a", "//a", "/a?x=1", "/a#b", "/a b", "/a%2f", "/\x00"} {
		if err := discovery.CheckPath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func BenchmarkProbe(b *testing.B) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: labStation("/labstation/health", healthBody), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	winrm, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer winrm.Close()
	go func() {
		for {
			c, err := winrm.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	p := prober(port(winrm), port(ln))
	b.ReportAllocs()
	for b.Loop() {
		res, err := p.Probe(context.Background(), "lab-ws-01.lab.example")
		if err != nil || !res.LabStationHTTP.Detected {
			b.Fatal(err, res)
		}
	}
}
