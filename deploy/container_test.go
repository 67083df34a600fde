// Package deploy holds what a container deploy of the local server needs
// (compose.yaml; the Dockerfile is at the repository root) and the test
// that proves the image: built by `make image`, run read-only as the
// non-root user with podman, /health answers 200, the HEALTHCHECK passes.
package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// repoRoot is where the Makefile and the Dockerfile are.
const repoRoot = ".."

// healthcheckCmd is the HEALTHCHECK of the Dockerfile and of compose.yaml.
var healthcheckCmd = []string{"CMD", "/usr/local/bin/ops-worker", "-healthcheck"}

// podman runs podman as DEPENDENCIES.md "Containers" says these machines
// need: containers.conf with default_ulimits = [] (crun and runc fail on
// setrlimit otherwise), runc rather than crun, cgroupfs.
type podman struct {
	t     *testing.T
	env   []string
	flags []string
}

// newPodman finds podman and runc, or skips the test; with
// OPS_TEST_CONTAINER=required (set by .ci/run) a missing tool fails it.
func newPodman(t *testing.T) *podman {
	t.Helper()
	required := os.Getenv("OPS_TEST_CONTAINER") == "required"
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if required {
			t.Fatalf("OPS_TEST_CONTAINER=required: %s", msg)
		}
		t.Skipf("%s (OPS_TEST_CONTAINER=required makes this a failure)", msg)
	}
	if testing.Short() && !required {
		t.Skip("-short: the container test builds and runs an image")
	}
	if _, err := exec.LookPath("podman"); err != nil {
		unavailable("no podman (apt-get install podman runc)")
	}
	const runc = "/usr/sbin/runc"
	if _, err := os.Stat(runc); err != nil {
		unavailable("no %s (apt-get install runc)", runc)
	}
	if os.Geteuid() != 0 {
		unavailable("the container test runs podman as root (uid %d)", os.Geteuid())
	}
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &podman{
		t:     t,
		env:   append(os.Environ(), "CONTAINERS_CONF="+conf),
		flags: []string{"--runtime", runc, "--cgroup-manager=cgroupfs"},
	}
}

// run runs podman with args and returns its stdout; stderr goes into the
// error. extraEnv is added to the environment (secrets for `-e NAME`).
func (p *podman) run(extraEnv []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", append(slices.Clone(p.flags), args...)...)
	cmd.Env = append(slices.Clone(p.env), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, podmanNoise(stderr.String()))
	}
	return stdout.String(), nil
}

func (p *podman) must(args ...string) string {
	p.t.Helper()
	out, err := p.run(nil, args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// podmanNoise drops podman's complaints about systemd timers for
// healthchecks: there is no systemd here, the health check itself runs
// through `podman healthcheck run`.
func podmanNoise(stderr string) string {
	var keep []string
	for _, line := range strings.Split(stderr, "\n") {
		if line != "" && !strings.Contains(line, "/run/systemd/private") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePort is a TCP port nothing listens on at the moment (host network:
// the container's server takes it).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// imageInspect is the part of `podman image inspect` the test reads.
type imageInspect struct {
	Size   int64
	Config struct {
		User         string
		Env          []string
		ExposedPorts map[string]struct{}
		Entrypoint   []string
	}
	HealthCheck *struct {
		Test []string
	}
}

// TestContainer builds the image with `make image` and runs it the way a
// gateway does: read-only root filesystem (no tmpfs either: nothing may be
// written), non-root, no capabilities, MySQL from MYSQL_DSN, secrets passed
// from the environment, the host catalog mounted read-only; /health
// answers 200, the image's HEALTHCHECK passes, SIGTERM stops it cleanly.
func TestContainer(t *testing.T) {
	p := newPodman(t)
	tag := "localhost/ops-worker:test-" + randomHex(4)

	// make image, into a private build context.
	ctxDir := filepath.Join(t.TempDir(), "image")
	start := time.Now()
	mk := exec.Command("make", "--no-print-directory", "-C", repoRoot, "image", "IMAGE="+tag, "IMAGE_CTX="+ctxDir)
	mk.Env = p.env
	out, err := mk.CombinedOutput()
	buildTime := time.Since(start)
	t.Cleanup(func() {
		if _, err := p.run(nil, "rmi", "--force", tag); err != nil {
			t.Logf("removing %s: %v", tag, err)
		}
	})
	if err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	sizeLine := lastLine(string(out))
	if !strings.HasPrefix(sizeLine, tag+": ") || !strings.Contains(sizeLine, " bytes; binary ") {
		t.Errorf("make image does not end with the image size: %q", sizeLine)
	}

	checkImageConfig(t, p, tag)
	checkImageFiles(t, p, tag)

	// The catalog: one station on loopback, its WinRM credentials as env:
	// references (the container gets them with -e). No labsim needed:
	// /health and /api/hosts never dial a station.
	cfgDir := t.TempDir()
	catalog := `{"hosts": [{"name": "lab-ws-01", "address": "127.0.0.1", "mac": "00:11:22:33:44:55",
		"broadcast": "127.0.0.1", "winrm_user": "env:WINRM_USER_LAB_WS_01", "winrm_pass": "env:WINRM_PASS_LAB_WS_01", "labs": ["1"]}]}`
	if err := os.WriteFile(filepath.Join(cfgDir, "hosts.json"), []byte(catalog), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfgDir, 0o755); err != nil { // uid 65532 reads it
		t.Fatal(err)
	}

	dsn := dbtest.NewDatabase(t)
	if !strings.Contains(dsn, "@tcp(") {
		t.Fatalf("the test database is not on TCP (%s): the container reaches it over the host network", dbtest.Kind(t))
	}
	token := "container-token-" + randomHex(8)
	winrmPass := "winrm-pass-" + randomHex(8)
	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)

	// Secrets by name only (-e NAME): their values come from podman's
	// environment, never its command line.
	secrets := []string{"MYSQL_DSN=" + dsn, "LAB_MANAGER_TOKEN=" + token, "WINRM_USER_LAB_WS_01=labadmin", "WINRM_PASS_LAB_WS_01=" + winrmPass}
	start = time.Now()
	runOut, err := p.run(secrets, "run", "-d", "--network", "host",
		"--read-only", "--read-only-tmpfs=false",
		"--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"-e", "OPS_BIND=127.0.0.1", "-e", "OPS_PORT="+strconv.Itoa(port),
		"-e", "MYSQL_DSN", "-e", "LAB_MANAGER_TOKEN", "-e", "WINRM_USER_LAB_WS_01", "-e", "WINRM_PASS_LAB_WS_01",
		"-v", cfgDir+":/etc/ops-worker:ro",
		tag)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(runOut)
	if len(id) != 64 {
		t.Fatalf("podman run printed %q, not a container id", runOut)
	}
	t.Cleanup(func() {
		if _, err := p.run(nil, "rm", "--force", id); err != nil {
			t.Logf("removing container %s: %v", id, err)
		}
	})
	// The worker logs to stderr; podman logs gives it back on stderr.
	logs := func() string {
		cmd := exec.Command("podman", append(slices.Clone(p.flags), "logs", id)...)
		cmd.Env = p.env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Sprintf("podman logs: %v\n%s", err, out)
		}
		return podmanNoise(string(out))
	}

	// /health: 200, on MySQL, the catalog loaded.
	var health map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, err := get(base+"/health", "")
		if err == nil && code == http.StatusOK {
			if err := json.Unmarshal(body, &health); err != nil {
				t.Fatalf("/health: %q: %v", body, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 200 from /health in 30 s (last: %d %q %v); container log:\n%s", code, body, err, logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	startTime := time.Since(start)
	if health["status"] != "ok" || health["db"] != true || health["db_kind"] != "mysql" || health["hosts_loaded"] != 1.0 {
		t.Errorf("/health: %v, want ok, db true, db_kind mysql, hosts_loaded 1", health)
	}

	// The token reached the container through the environment.
	if code, body, err := get(base+"/api/hosts", ""); err != nil || code != http.StatusUnauthorized {
		t.Errorf("/api/hosts without the token: %d %q %v, want 401", code, body, err)
	}
	if code, body, err := get(base+"/api/hosts", token); err != nil || code != http.StatusOK || !bytes.Contains(body, []byte("lab-ws-01")) {
		t.Errorf("/api/hosts with the token: %d %q %v, want 200 naming lab-ws-01", code, body, err)
	}

	// The image's HEALTHCHECK, run by podman, and the probe by hand.
	if _, err := p.run(nil, "healthcheck", "run", id); err != nil {
		t.Errorf("podman healthcheck run: %v", err)
	}
	if st, err := p.run(nil, "inspect", "--format", "{{.State.Health.Status}}", id); err != nil || strings.TrimSpace(st) != "healthy" {
		t.Errorf("health status after the check: %q %v, want healthy", st, err)
	}
	if out, err := p.run(nil, "exec", id, "/usr/local/bin/ops-worker", "-healthcheck"); err != nil || !strings.Contains(out, `"status":"ok"`) {
		t.Errorf("exec ops-worker -healthcheck: %q %v", out, err)
	}
	closed := freePort(t)
	if _, err := p.run(nil, "exec", id, "/usr/local/bin/ops-worker", "-healthcheck", "-addr", "127.0.0.1:"+strconv.Itoa(closed)); err == nil {
		t.Errorf("-healthcheck against a closed port exited 0")
	} else if !strings.Contains(err.Error(), "exit status 1") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("-healthcheck against a closed port: %v, want exit status 1 and connection refused", err)
	}
	if top, err := p.run(nil, "top", id, "user", "group"); err != nil || !slices.Equal(strings.Fields(top), []string{"USER", "GROUP", "nonroot", "nonroot"}) {
		t.Errorf("podman top: %q %v, want the one process as nonroot:nonroot", top, err)
	}

	// SIGTERM by container id: a graceful stop, exit 0.
	if _, err := p.run(nil, "stop", "--time", "20", id); err != nil {
		t.Fatal(err)
	}
	if code, err := p.run(nil, "inspect", "--format", "{{.State.ExitCode}}", id); err != nil || strings.TrimSpace(code) != "0" {
		t.Errorf("exit code after podman stop: %q %v, want 0", code, err)
	}
	log := logs()
	for _, want := range []string{`"msg":"listening"`, `"db_kind":"mysql"`, `"msg":"stopped"`} {
		if !strings.Contains(log, want) {
			t.Errorf("container log lacks %s:\n%s", want, log)
		}
	}
	for _, secret := range []string{token, winrmPass} {
		if strings.Contains(log, secret) {
			t.Errorf("a secret reached the container log:\n%s", log)
		}
	}
	if strings.Contains(log, "read-only file system") {
		t.Errorf("the server tried to write:\n%s", log)
	}
	t.Logf("image %s; make image %s; podman run to the first 200 from /health %s", sizeLine, buildTime.Round(time.Millisecond), startTime.Round(time.Millisecond))
}

// checkImageConfig: non-root user, the HEALTHCHECK kept (docker format),
// the port, no secret in the environment.
func checkImageConfig(t *testing.T, p *podman, tag string) {
	t.Helper()
	var imgs []imageInspect
	if err := json.Unmarshal([]byte(p.must("image", "inspect", tag)), &imgs); err != nil || len(imgs) != 1 {
		t.Fatalf("podman image inspect %s: %d images, %v", tag, len(imgs), err)
	}
	img := imgs[0]
	if img.Config.User != "65532:65532" {
		t.Errorf("image user %q, want 65532:65532", img.Config.User)
	}
	if img.HealthCheck == nil || !reflect.DeepEqual(img.HealthCheck.Test, healthcheckCmd) {
		t.Errorf("image healthcheck %+v, want %q (built with --format docker?)", img.HealthCheck, healthcheckCmd)
	}
	if _, ok := img.Config.ExposedPorts["8081/tcp"]; !ok {
		t.Errorf("image exposes %v, want 8081/tcp", img.Config.ExposedPorts)
	}
	for _, want := range []string{"OPS_BIND=0.0.0.0", "OPS_PORT=8081", "OPS_CONFIG=/etc/ops-worker/hosts.json"} {
		if !slices.Contains(img.Config.Env, want) {
			t.Errorf("image env %q lacks %s", img.Config.Env, want)
		}
	}
	for _, e := range img.Config.Env {
		name, _, _ := strings.Cut(e, "=")
		if name == "MYSQL_DSN" || strings.Contains(name, "TOKEN") || strings.Contains(name, "SECRET") || strings.Contains(name, "PASS") {
			t.Errorf("image env carries %s", name)
		}
	}
	if img.Size > 20<<20 {
		t.Errorf("image is %d bytes: the embedded database got in? (make image builds with -tags noembeddeddb)", img.Size)
	}
}

// checkImageFiles exports the image's filesystem: exactly the binary, the
// CA bundle (the build host's), passwd and group; /tmp writable for all;
// no shell. The binary is static, built with -trimpath and without the
// embedded database.
func checkImageFiles(t *testing.T, p *podman, tag string) {
	t.Helper()
	id := strings.TrimSpace(p.must("create", tag))
	defer p.run(nil, "rm", "--force", id)
	export := filepath.Join(t.TempDir(), "rootfs.tar")
	p.must("export", "--output", export, id)
	f, err := os.Open(export)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bin := filepath.Join(t.TempDir(), "ops-worker")
	var files []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch h.Typeflag {
		case tar.TypeDir:
			if strings.TrimSuffix(name, "/") == "tmp" && h.FileInfo().Mode()&(os.ModeSticky|0o777) != os.ModeSticky|0o777 {
				t.Errorf("/tmp mode %v, want drwxrwxrwt", h.FileInfo().Mode())
			}
			continue
		case tar.TypeReg:
		default:
			files = append(files, name+" (type "+string(h.Typeflag)+")")
			continue
		}
		files = append(files, name)
		switch name {
		case "usr/local/bin/ops-worker":
			if h.Uid != 0 || h.FileInfo().Mode().Perm() != 0o755 {
				t.Errorf("binary owner %d mode %v, want root 0755 (not writable by 65532)", h.Uid, h.FileInfo().Mode())
			}
			w, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(w, tr); err != nil {
				t.Fatal(err)
			}
			w.Close()
		case "etc/ssl/certs/ca-certificates.crt":
			got, _ := io.ReadAll(tr)
			want, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
			if err == nil && !bytes.Equal(got, want) {
				t.Errorf("the image's CA bundle differs from the build host's")
			}
			if !bytes.Contains(got, []byte("BEGIN CERTIFICATE")) {
				t.Errorf("the image's CA bundle holds no certificate")
			}
		case "etc/passwd":
			got, _ := io.ReadAll(tr)
			if !bytes.Contains(got, []byte("nonroot:x:65532:65532:")) {
				t.Errorf("/etc/passwd: %q", got)
			}
		}
	}
	want := []string{"etc/group", "etc/passwd", "etc/ssl/certs/ca-certificates.crt", "usr/local/bin/ops-worker"}
	slices.Sort(files)
	if !slices.Equal(files, want) {
		t.Errorf("files in the image: %q, want exactly %q", files, want)
	}

	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	info := string(out)
	// (-ldflags is not recorded under -trimpath: the ELF check below.)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath=true", "-tags=noembeddeddb"} {
		if !strings.Contains(info, want) {
			t.Errorf("the image's binary was not built with %s:\n%s", want, info)
		}
	}
	if strings.Contains(info, "dolthub/go-mysql-server") {
		t.Errorf("the image's binary links the embedded database")
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	if ef.Section(".symtab") != nil {
		t.Errorf("the image's binary has a symbol table (not built with -ldflags '-s -w')")
	}
	for _, prog := range ef.Progs {
		if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
			t.Errorf("the image's binary is dynamically linked (program header %v)", prog.Type)
		}
	}
}

func get(url, token string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("X-Lab-Manager-Token", token)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, body, err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestCompose keeps deploy/compose.yaml in step with the image and the
// configuration: the same healthcheck, read-only, the non-root user, every
// variable it sets one the worker reads, and no secret written in it.
func TestCompose(t *testing.T) {
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	dockerfile, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	hc, _ := json.Marshal(healthcheckCmd)
	wantHC := strings.ReplaceAll(string(hc), ",", ", ")
	if !strings.Contains(doc, "test: "+wantHC) {
		t.Errorf("compose.yaml: no healthcheck `test: %s`", wantHC)
	}
	hc, _ = json.Marshal(healthcheckCmd[1:])
	if want := "CMD " + strings.ReplaceAll(string(hc), ",", ", "); !strings.Contains(string(dockerfile), want) {
		t.Errorf("Dockerfile: no HEALTHCHECK %s", want)
	}
	for _, want := range []string{"read_only: true", `user: "65532:65532"`, "network_mode: host", "restart: unless-stopped",
		"./ops-worker:/etc/ops-worker:ro", "OPS_CONFIG: /etc/ops-worker/hosts.json", "stop_grace_period:"} {
		if !strings.Contains(doc, want) {
			t.Errorf("compose.yaml lacks %q", want)
		}
	}

	known := map[string]bool{}
	for f := range reflect.TypeFor[config.Config]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		known[name] = true
	}
	// Every `NAME: value` under an environment: block, the commented
	// example included.
	envLine := regexp.MustCompile(`(?m)^[#\s]*([A-Z][A-Z0-9_]+): (.*)$`)
	matches := envLine.FindAllStringSubmatch(doc, -1)
	if len(matches) < 5 {
		t.Fatalf("compose.yaml: only %d environment lines found", len(matches))
	}
	for _, m := range matches {
		name, value := m[1], strings.TrimSpace(m[2])
		if !known[name] {
			t.Errorf("compose.yaml sets %s, which the worker does not read", name)
		}
		secret := name == "LAB_MANAGER_TOKEN" || name == "OPS_RELAY_SECRET" || name == "OPS_INTERNAL_AUTH_TOKEN"
		if name == "MYSQL_DSN" {
			// A literal DSN only in the commented example, without a
			// password of substance.
			secret = !strings.Contains(value, ":secret@")
		}
		if secret && !strings.HasPrefix(value, "${") {
			t.Errorf("compose.yaml writes %s literally (%q): it must come from the environment", name, value)
		}
	}
}
