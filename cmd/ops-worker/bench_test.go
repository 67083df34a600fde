package main

// Load benchmarks of the local server (issue 7): a real load generator
// (vegeta, as a library) against the real program on loopback.
//
// The server runs as a child process, so its resident memory is its own:
// the benchmark re-executes its own test binary, whose init (below) then
// runs the program exactly as main does (runMain: ParseFlags, Run, signal
// wait, Close) on -addr 127.0.0.1:0 with the given environment. The labsim
// stations and the load generator run in the benchmark process.
//
// Every sub-benchmark is a closed loop: c vegeta workers, each sending its
// next request as soon as its previous answer is read; one op is one
// request, so ns/op is the inverse of the throughput. Reported per run:
//
//	req/s    requests (or commands) answered per second
//	p50-ms   median latency, as vegeta measures it (request written to body read)
//	p99-ms   99th percentile
//	rss-MiB  the server process's highest VmRSS sampled (every 20 ms) during the run
//	rss-idle-MiB  its VmRSS a second after start-up, before any request
//	srv-cpu-us/req  CPU time (user + system) the server process used per
//	         request: unlike the rates, hardly changed by a busy machine
//	load-1m  the machine's 1-minute load average at the end of the run (this
//	         benchmark alone makes it about 2: the machine has 2 cores)
//
//	go test -run '^$' -bench . -benchtime 3s -count 6 ./cmd/ops-worker | tee bench/api.txt
//	benchstat bench/api.txt
//
// (make bench-api.)

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ops-worker/ops-worker/internal/app"
	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/lab/direct"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// benchServeEnv, in the environment of this test binary, makes it the
// server (or the stations) instead of running tests: "labsim" runs
// stations (benchLabsim); "embedded" or "mysql" run runMain as
// is (the database is then MYSQL_DSN's, or the embedded one without it);
// "none" runs it without any database, as a Lambda function does.
const benchServeEnv = "OPS_WORKER_BENCH_SERVE"

// benchProfileEnv, set to a path prefix, makes each child write a CPU
// profile of its whole life to <prefix>.<mode>.<pid> (the server's own
// profile: go test -cpuprofile only sees the load generator).
const benchProfileEnv = "BENCH_SERVER_CPUPROFILE"

func init() {
	mode := os.Getenv(benchServeEnv)
	if mode == "" {
		return
	}
	if prefix := os.Getenv(benchProfileEnv); prefix != "" {
		f, err := os.Create(fmt.Sprintf("%s.%s.%d", prefix, mode, os.Getpid()))
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cpu profile:", err)
			os.Exit(2)
		}
		code := benchChild(mode, os.Args[1:])
		pprof.StopCPUProfile()
		f.Close()
		os.Exit(code)
	}
	os.Exit(benchChild(mode, os.Args[1:]))
}

// benchChild runs the child of mode and returns its exit status.
func benchChild(mode string, args []string) int {
	switch mode {
	case "labsim":
		return benchLabsim(args)
	case "none":
	default:
		return runMain(args)
	}
	// runMain with Main.noEmbedded set.
	m := &Main{}
	if err := m.ParseFlags(args); err != nil {
		fmt.Fprintln(os.Stderr, "ops-worker:", err)
		return 2
	}
	m.noEmbedded = true
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ops-worker:", err)
		_ = m.Close()
		return 1
	}
	select {
	case <-ctx.Done():
	case <-m.Done():
	}
	stop()
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "ops-worker:", err)
		return 1
	}
	return 0
}

// benchLabsim is the "labsim" mode of the test binary: args are the number
// of stations and the path where their hosts.json goes once they listen.
// It runs until SIGTERM.
func benchLabsim(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "labsim mode: want <hosts> <hosts.json path>")
		return 2
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := make([]labsim.HostOptions, n)
	for i := range opts {
		// Windows' defaults (NTLM over HTTPS, strict channel binding,
		// 30 shells per user, 2 h idle timeout) are kept: every command
		// opens and deletes its own shell, so none of them binds here.
		opts[i] = labsim.HostOptions{Name: fmt.Sprintf("lab-ws-%02d", i+1)}
	}
	sim, err := labsim.Start(ctx, labsim.Options{Hosts: opts, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer sim.Close()
	doc, err := sim.HostsJSON()
	if err == nil {
		err = os.WriteFile(args[1]+".tmp", doc, 0o600)
	}
	if err == nil {
		err = os.Rename(args[1]+".tmp", args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	return 0
}

const benchToken = "bench-token"

// child is this test binary re-executed in one of its modes.
type child struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{}
}

// startChild runs the test binary in mode with args and env added to a
// clean environment (no OPS_*, MYSQL_DSN or LAB_MANAGER_TOKEN of ours);
// b.Cleanup stops it.
func startChild(b *testing.B, mode string, args []string, env map[string]string) (*child, io.ReadCloser) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "OPS_") || k == "MYSQL_DSN" || k == "LAB_MANAGER_TOKEN" {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, benchServeEnv+"="+mode)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Should the benchmark die, so does the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &child{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	b.Cleanup(c.stop)
	return c, stderr
}

// stop ends the child gracefully (SIGTERM), at worst with SIGKILL.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil // enough to tell what went wrong
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLabsim runs n stations in a child process and returns the path of
// their hosts.json, and its log (the first MiB).
func startLabsim(b *testing.B, n int) (string, *lockedBuffer) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "hosts.json")
	c, stderr := startChild(b, "labsim", []string{strconv.Itoa(n), path}, nil)
	log := &lockedBuffer{}
	go func() {
		_, _ = io.Copy(log, stderr)
		_ = c.cmd.Wait()
		close(c.done)
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return path, log
		}
		select {
		case <-c.done:
			b.Fatalf("labsim exited:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatal("labsim not ready after 30 s")
		}
	}
}

// benchServer is the program running as a child process.
type benchServer struct {
	*child
	base string // http://127.0.0.1:port
}

// startServer runs the server (db: "none", "embedded" or "mysql") with
// env, and waits for its "listening" log line.
func startServer(b *testing.B, db string, env map[string]string) *benchServer {
	b.Helper()
	env = maps.Clone(env)
	env["LAB_MANAGER_TOKEN"] = benchToken
	c, stderr := startChild(b, db, []string{"-addr", "127.0.0.1:0", "-log-format", "json"}, env)
	s := &benchServer{child: c}
	addrc := make(chan string, 1)
	var head bytes.Buffer // the log up to "listening", for a failed start
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			if found {
				continue // the request log: read and dropped, as a log shipper would
			}
			line := sc.Bytes()
			head.Write(line)
			head.WriteByte('\n')
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" {
				found = true
				addrc <- rec.Addr
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		if !found {
			close(addrc)
		}
		_ = c.cmd.Wait()
		close(c.done)
	}()
	select {
	case addr, ok := <-addrc:
		if !ok {
			<-c.done
			b.Fatalf("server (db=%s) exited before listening:\n%s", db, head.String())
		}
		s.base = "http://" + addr
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		b.Fatalf("server (db=%s) not listening after 60 s:\n%s", db, head.String())
	}
	return s
}

// rssMiB is VmRSS of process pid ("self" for this one) in MiB.
func rssMiB(pid string) float64 {
	raw, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// idleRSS is the server's VmRSS once start-up has settled (a second after
// it listens, before any request).
func idleRSS(s *benchServer) float64 {
	time.Sleep(time.Second)
	return rssMiB(strconv.Itoa(s.pid))
}

// cpuTime is the CPU time (user + system) process pid has used so far
// (clock ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses): state is
	// field 3, utime 14, stime 15.
	_, rest, _ := strings.Cut(string(raw), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// loadavg1 is the 1-minute load average of the machine (this benchmark's
// own load included: about 2 when it saturates both cores).
func loadavg1() float64 {
	raw, _ := os.ReadFile("/proc/loadavg")
	f, _, _ := strings.Cut(string(raw), " ")
	v, _ := strconv.ParseFloat(f, 64)
	return v
}

// rssSampler records the highest VmRSS of pid until stopped.
type rssSampler struct {
	stopc chan struct{}
	done  chan struct{}
	max   float64
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{stopc: make(chan struct{}), done: make(chan struct{})}
	p := strconv.Itoa(pid)
	go func() {
		defer close(s.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			s.max = max(s.max, rssMiB(p))
			select {
			case <-s.stopc:
				s.max = max(s.max, rssMiB(p))
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() float64 {
	close(s.stopc)
	<-s.done
	return s.max
}

// countPacer paces nothing (as fast as the workers go) and stops after n
// hits.
type countPacer uint64

func (n countPacer) Pace(_ time.Duration, hits uint64) (time.Duration, bool) {
	return 0, hits >= uint64(n)
}

func (countPacer) Rate(time.Duration) float64 { return 0 }

// loadResult is what one closed-loop run measured.
type loadResult struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration // sorted
	// byKind splits lat (sorted too): "direct" for the direct call
	// (http://direct/...), "api" for the others.
	byKind   map[string][]time.Duration
	failures int
	firstErr string
}

func (r loadResult) quantile(q float64) time.Duration { return quantile(r.lat, q) }

// quantile is the q-quantile of sorted lat (nearest rank).
func quantile(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[min(len(lat)-1, int(q*float64(len(lat))))]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// report sets the benchmark's metrics; rss < 0 leaves the memory ones out.
func (r loadResult) report(b *testing.B, rssIdle, rss float64) {
	b.ReportMetric(float64(r.n)/r.elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(r.quantile(0.50))/1e6, "p50-ms")
	b.ReportMetric(float64(r.quantile(0.99))/1e6, "p99-ms")
	b.ReportMetric(loadavg1(), "load-1m")
	if rss >= 0 {
		b.ReportMetric(rss, "rss-MiB")
		b.ReportMetric(rssIdle, "rss-idle-MiB")
	}
}

// loadGen makes closed-loop attacks of c workers. A vegeta Attacker is
// spent once its attack ends (it stops itself): each attack takes a new one
// over the same client, so connections are kept from one to the next.
type loadGen struct {
	c      int
	client *http.Client
}

func newLoadGen(c int, rt http.RoundTripper) *loadGen {
	if rt == nil {
		rt = &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c}
	}
	return &loadGen{c: c, client: &http.Client{Transport: rt, Timeout: 60 * time.Second}}
}

// attack sends n requests from tr and checks each answer with ok (nil:
// status 200).
func (g *loadGen) attack(tr vegeta.Targeter, n int, ok func(*vegeta.Result) error) loadResult {
	atk := vegeta.NewAttacker(vegeta.Workers(uint64(g.c)), vegeta.MaxWorkers(uint64(g.c)), vegeta.Client(g.client))
	out := loadResult{n: n, lat: make([]time.Duration, 0, n), byKind: map[string][]time.Duration{}}
	start := time.Now()
	for res := range atk.Attack(tr, countPacer(n), 0, "") {
		out.lat = append(out.lat, res.Latency)
		kind := "api"
		if strings.HasPrefix(res.URL, "http://direct/") {
			kind = "direct"
		}
		out.byKind[kind] = append(out.byKind[kind], res.Latency)
		err := error(nil)
		switch {
		case res.Error != "":
			err = errors.New(res.Error)
		case ok != nil:
			err = ok(res)
		case res.Code != http.StatusOK:
			err = fmt.Errorf("status %d", res.Code)
		}
		if err != nil {
			if out.failures == 0 {
				out.firstErr = fmt.Sprintf("%v: %.300s", err, res.Body)
			}
			out.failures++
		}
	}
	out.elapsed = time.Since(start)
	if len(out.lat) != n && out.failures == 0 {
		out.failures, out.firstErr = n-len(out.lat), fmt.Sprintf("%d answers for %d requests", len(out.lat), n)
	}
	slices.Sort(out.lat)
	for _, l := range out.byKind {
		slices.Sort(l)
	}
	return out
}

// BenchmarkHealth: GET /health of the local server, 16 connections.
// db=none: no database (health then only counts the catalog);
// db=embedded: the embedded in-memory database of `make run` (health pings
// it and reads the quarantine flags: two round trips over loopback).
func BenchmarkHealth(b *testing.B) {
	const c = 16
	dir := b.TempDir()
	// Stations that are never called: /health only counts them.
	var cat strings.Builder
	cat.WriteString(`{"hosts": [`)
	for i := range 4 {
		if i > 0 {
			cat.WriteString(",")
		}
		fmt.Fprintf(&cat, `{"name": "lab-ws-%02d", "address": "127.0.0.1", "mac": "02:00:00:00:00:%02x", "broadcast": "127.0.0.1", "labs": ["%d"]}`, i+1, i+1, i+1)
	}
	cat.WriteString("]}")
	path := filepath.Join(dir, "hosts.json")
	if err := os.WriteFile(path, []byte(cat.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, db := range []string{"none", "embedded"} {
		srv := startServer(b, db, map[string]string{"OPS_CONFIG": path})
		idle := idleRSS(srv)
		target := vegeta.Target{Method: http.MethodGet, URL: srv.base + "/health"}
		wantKind := map[string]string{"none": app.DBNone, "embedded": app.DBEmbedded}[db]
		b.Run(fmt.Sprintf("db=%s/c=%d", db, c), func(b *testing.B) {
			gen := newLoadGen(c, nil)
			// The first answer is checked in full, the others by status.
			first := gen.attack(vegeta.NewStaticTargeter(target), 1, func(r *vegeta.Result) error {
				var h struct {
					Status string `json:"status"`
					DBKind string `json:"db_kind"`
					Hosts  int    `json:"hosts_loaded"`
				}
				if r.Code != http.StatusOK || json.Unmarshal(r.Body, &h) != nil || h.Status != "ok" || h.DBKind != wantKind || h.Hosts != 4 {
					return fmt.Errorf("unexpected /health answer %d", r.Code)
				}
				return nil
			})
			if first.failures > 0 {
				b.Fatal(first.firstErr)
			}
			rs := sampleRSS(srv.pid)
			cpu0 := cpuTime(srv.pid)
			b.ResetTimer()
			res := gen.attack(vegeta.NewStaticTargeter(target), b.N, nil)
			b.StopTimer()
			cpu := cpuTime(srv.pid) - cpu0
			rss := rs.stop()
			if res.failures > 0 {
				b.Fatalf("%d of %d requests failed, first: %s", res.failures, b.N, res.firstErr)
			}
			res.report(b, idle, rss)
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "srv-cpu-us/req")
		})
		srv.stop()
	}
}

// directTransport answers "requests" by calling lab.Direct.RunCommand in
// this process: vegeta then measures the direct call exactly as it
// measures the API (same workers, same clock, same percentiles). The URL
// path is the host name.
type directTransport struct {
	d     *direct.Direct
	hosts map[string]hosts.Host
}

func (t *directTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h, ok := t.hosts[strings.TrimPrefix(r.URL.Path, "/")]
	if !ok {
		return nil, fmt.Errorf("unknown host %q", r.URL.Path)
	}
	res, err := t.d.RunCommand(r.Context(), h, "status", nil, lab.CommandOptions{})
	if err != nil {
		return nil, err
	}
	code := http.StatusOK
	if res.ExitCode != 0 {
		code = http.StatusInternalServerError
	}
	return &http.Response{StatusCode: code, Status: http.StatusText(code), Body: http.NoBody,
		Header: http.Header{}, Request: r, ProtoMajor: 1, ProtoMinor: 1, ContentLength: 0}, nil
}

// splitTransport sends http://direct/... to the direct call, the rest over
// HTTP.
type splitTransport struct {
	direct *directTransport
	http   http.RoundTripper
}

func (t *splitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == "direct" {
		return t.direct.RoundTrip(r)
	}
	return t.http.RoundTrip(r)
}

// roundRobin hands out ts in turn.
func roundRobin(ts []vegeta.Target) vegeta.Targeter {
	var i atomic.Uint64
	return func(t *vegeta.Target) error {
		*t = ts[(i.Add(1)-1)%uint64(len(ts))]
		return nil
	}
}

// BenchmarkCommand: POST /api/winrm {"command": "status"} end to end
// (vegeta -> server -> WinRM over HTTPS with NTLM -> labsim, no added
// latency) and lab.Direct.RunCommand of the same stations, all through
// vegeta with the same closed loop. The stations (labsim) run in a child
// process. Per hosts/c:
//
//	via=direct  lab.Direct.RunCommand in this process (vegeta's client
//	            calls it instead of sending HTTP): the base line
//	via=ab      direct calls and API calls to Main running in this process
//	            alternate in one run: overhead-p50/p99-ms = API minus direct,
//	            both met with the same load on the machine
//	via=api     the server as a process of its own (embedded database, as
//	            `make run`): what a caller gets, and the server's memory
//
// A station runs at most 2 commands at once (labsim answers a third with
// a quota fault; the WinRM client holds a third back for its host):
// hosts=1/c=1 is one caller (latency without queueing), hosts=1/c=2 one
// station at its limit, hosts=8/c=8 eight stations, round robin, so that
// none sees more than 2 (one, mostly) and the machine's 2 cores saturate.
func BenchmarkCommand(b *testing.B) {
	for _, tc := range []struct{ hosts, c int }{{1, 1}, {1, 2}, {8, 8}} {
		benchCommand(b, tc.hosts, tc.c)
	}
}

func benchCommand(b *testing.B, nHosts, c int) {
	ctx := context.Background()
	// The stations run in their own process, so that the direct path and
	// the server each share the machine with the same simulator.
	path, simLog := startLabsim(b, nHosts)
	env := map[string]string{"OPS_CONFIG": path}

	// The direct path, built as internal/app builds it from the same
	// configuration, logging JSON at INFO as the server does (to nowhere).
	cfg, err := config.LoadMap(ctx, env)
	if err != nil {
		b.Fatal(err)
	}
	reg, _, err := hosts.NewRegistryWith(context.Background(), path, hosts.Options{StationPrefixes: cfg.StationPrefixes()})
	if err != nil {
		b.Fatal(err)
	}
	logger, err := app.NewLogger(cfg, app.LogJSON, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	client := winrm.New(app.WinRMConfig(cfg, logger))
	b.Cleanup(func() { client.Close() })
	direct := &directTransport{
		d: &direct.Direct{
			WinRM:        client,
			Waker:        &wake.Waker{Logger: logger},
			GlobalCAFile: cfg.WinRMCAFile,
			Policy: direct.Policy{AllowedTransports: append([]string{}, cfg.WinRMAllowedTransports...),
				AllowCredentialOverride: cfg.AllowCredentialOverride},
			AllowedCommands: append([]string(nil), cfg.AllowedCommands...),
			StaleAfter:      cfg.HeartbeatStaleAfter(),
		},
		hosts: map[string]hosts.Host{},
	}
	var apiTargets, directTargets []vegeta.Target
	hdr := http.Header{"X-Lab-Manager-Token": {benchToken}, "Content-Type": {"application/json"}}
	for _, h := range reg.Catalog().Hosts() {
		direct.hosts[h.Name] = h
		directTargets = append(directTargets, vegeta.Target{Method: http.MethodGet, URL: "http://direct/" + h.Name})
		body := fmt.Sprintf(`{"host": %q, "command": "status"}`, h.Name)
		apiTargets = append(apiTargets, vegeta.Target{Method: http.MethodPost, Header: hdr, Body: []byte(body)})
	}

	srv := startServer(b, "embedded", env)
	idle := idleRSS(srv)
	for i := range apiTargets {
		apiTargets[i].URL = srv.base + "/api/winrm"
	}
	okAPI := func(r *vegeta.Result) error {
		var out struct {
			ExitCode *int `json:"exit_code"`
		}
		if r.Code != http.StatusOK {
			return fmt.Errorf("status %d", r.Code)
		}
		if err := json.Unmarshal(r.Body, &out); err != nil || out.ExitCode == nil || *out.ExitCode != 0 {
			return fmt.Errorf("answer without exit_code 0")
		}
		return nil
	}

	name := fmt.Sprintf("hosts=%d/c=%d", nHosts, c)
	fail := func(b *testing.B, res loadResult) {
		b.Fatalf("%d of %d commands failed, first: %s\nlabsim's refusals:\n%s", res.failures, b.N, res.firstErr, refusals(simLog))
	}
	// 1. The direct call, the base line.
	b.Run(name+"/via=direct", func(b *testing.B) {
		gen := newLoadGen(c, direct)
		b.ResetTimer()
		res := gen.attack(roundRobin(directTargets), b.N, nil)
		b.StopTimer()
		if res.failures > 0 {
			fail(b, res)
		}
		res.report(b, 0, -1)
	})
	// 2. The API served by Main in this process: the same processes (and
	// so the same share of a busy machine) as the direct call, plus the
	// HTTP hop and the handler. The difference to 1 is the API's overhead.
	// No database: /api/winrm uses none.
	inprocEnv := maps.Clone(env)
	inprocEnv["LAB_MANAGER_TOKEN"] = benchToken
	inproc := &Main{Addr: "127.0.0.1:0", LogFormat: "json", Env: inprocEnv, LogOutput: io.Discard, noEmbedded: true}
	if err := inproc.Run(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { inproc.Close() })
	inprocTargets := slices.Clone(apiTargets)
	for i := range inprocTargets {
		inprocTargets[i].URL = "http://" + inproc.BoundAddr() + "/api/winrm"
	}
	// Direct calls and in-process API calls alternate within one run, so
	// both meet the same machine (a busy one, here); each is measured by
	// itself, and the overhead is the difference of their quantiles.
	var abTargets []vegeta.Target
	for i := range directTargets {
		abTargets = append(abTargets, directTargets[i], inprocTargets[i])
	}
	if len(abTargets) == 2 && c%2 == 0 {
		// One station, an even number of workers: worker k would always
		// take the same kind; a third target breaks the lock step.
		abTargets = append(abTargets, directTargets[0], inprocTargets[0], inprocTargets[0], directTargets[0])
	}
	split := &splitTransport{direct: direct, http: &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c}}
	b.Run(name+"/via=ab", func(b *testing.B) {
		gen := newLoadGen(c, split)
		b.ResetTimer()
		res := gen.attack(roundRobin(abTargets), b.N, func(r *vegeta.Result) error {
			if strings.HasPrefix(r.URL, "http://direct/") {
				if r.Code != http.StatusOK {
					return fmt.Errorf("status %d", r.Code)
				}
				return nil
			}
			return okAPI(r)
		})
		b.StopTimer()
		if res.failures > 0 {
			fail(b, res)
		}
		d, a := res.byKind["direct"], res.byKind["api"]
		b.ReportMetric(float64(res.n)/res.elapsed.Seconds(), "req/s")
		b.ReportMetric(loadavg1(), "load-1m")
		for _, q := range []struct {
			name string
			q    float64
		}{{"p50", 0.5}, {"p99", 0.99}} {
			b.ReportMetric(ms(quantile(d, q.q)), "direct-"+q.name+"-ms")
			b.ReportMetric(ms(quantile(a, q.q)), "api-"+q.name+"-ms")
			b.ReportMetric(ms(quantile(a, q.q)-quantile(d, q.q)), "overhead-"+q.name+"-ms")
		}
	})
	inproc.Close()
	// 3. The API of the server process (the embedded database, as `make
	// run`): throughput and latency as deployed, and its memory.
	b.Run(name+"/via=api", func(b *testing.B) {
		gen := newLoadGen(c, nil)
		rs := sampleRSS(srv.pid)
		cpu0 := cpuTime(srv.pid)
		b.ResetTimer()
		res := gen.attack(roundRobin(apiTargets), b.N, okAPI)
		b.StopTimer()
		cpu := cpuTime(srv.pid) - cpu0
		rss := rs.stop()
		if res.failures > 0 {
			fail(b, res)
		}
		res.report(b, idle, rss)
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "srv-cpu-us/req")
	})
	srv.stop()
}

// refusals are the lines of a labsim log that refuse something.
func refusals(log *lockedBuffer) string {
	var out []string
	for line := range strings.SplitSeq(log.String(), "\n") {
		if strings.Contains(line, "refused") || strings.Contains(line, "ERROR") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
