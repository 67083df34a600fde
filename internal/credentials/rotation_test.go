package credentials_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/credentials"
	"github.com/ops-worker/ops-worker/internal/dbtest"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/logtest"
	"github.com/ops-worker/ops-worker/internal/secrets"
	"github.com/ops-worker/ops-worker/internal/store"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// buildWorker builds cmd/ops-worker into a temporary folder of t.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ops-worker")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ops-worker/ops-worker/cmd/ops-worker").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func keyText(b byte) string { return base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func keyring(t *testing.T, cur string, prev ...string) *secrets.Keyring {
	t.Helper()
	c, err := secrets.ParseKey(cur)
	if err != nil {
		t.Fatal(err)
	}
	var ps [][]byte
	for _, p := range prev {
		k, err := secrets.ParseKey(p)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, k)
	}
	r, err := secrets.NewKeyring(c, ps...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func openStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	cfg, err := config.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func password(i int) string { return fmt.Sprintf("Rot-Pw-%03d-q9!Z", i) }

// Issue 17, "done when": rows sealed under K1 are re-sealed under K2 while
// a worker with current=K2, previous=K1 reads them without a single failed
// read, by the Service and by the built `ops-worker reseal-credentials`;
// then a worker with K2 alone reads every row. No password and no key in
// any log, output or error.
func TestRotationWhileServing(t *testing.T) {
	ctx := context.Background()
	k1, k2 := keyText(0x11), keyText(0x22)
	dsn := dbtest.NewDatabase(t)
	st := openStore(t, dsn)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	old := credentials.New(st, keyring(t, k1), credentials.Options{Logger: logger})
	const n = 150 // more than one batch
	saveRows := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := old.SaveWinRM(ctx, fmt.Sprintf("ws-%03d", i), fmt.Sprintf("user%d", i), secrets.NewSecret(password(i)), "seed"); err != nil {
				t.Fatal(err)
			}
		}
	}
	saveRows(0, n)
	if _, _, err := old.SavePower(ctx, "pdu-1", "netio-http-basic", map[string]any{"username": "admin", "password": password(999)}, false, "seed"); err != nil {
		t.Fatal(err)
	}

	// The serving worker: current K2, previous K1, no cache (every read
	// opens a row as it is in the database at that moment).
	serving := credentials.New(openStore(t, dsn), keyring(t, k2, k1), credentials.Options{Logger: logger})
	var reads, failures atomic.Int64
	var failMu sync.Mutex
	var failMsgs []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	total := atomic.Int64{}
	total.Store(n)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				idx := i % int(total.Load())
				ref := fmt.Sprintf("ws-%03d", idx)
				var ok bool
				var err error
				if i%2 == 0 {
					var pass secrets.Secret
					var found bool
					_, pass, found, err = serving.WinRM(ctx, ref)
					ok = found && pass.Reveal() == password(idx)
				} else {
					ok = serving.WinRMConfigured(ctx, hosts.Host{Name: ref, CredentialRef: ref})
				}
				if _, _, perr := serving.Power(ctx, "pdu-1"); perr != nil {
					ok, err = false, perr
				}
				reads.Add(1)
				if !ok || err != nil {
					failures.Add(1)
					failMu.Lock()
					failMsgs = append(failMsgs, fmt.Sprintf("%s: %v", ref, err))
					failMu.Unlock()
				}
			}
		}()
	}
	waitReads := func(more int64) {
		t.Helper()
		target := reads.Load() + more
		for deadline := time.Now().Add(30 * time.Second); reads.Load() < target; {
			if time.Now().After(deadline) {
				t.Fatal("readers stalled")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitReads(50)

	// 1. The Service's Reseal, twice at once (two operators), while a
	// writer re-saves rows under K2: the swaps that lose are skipped.
	resealer := credentials.New(openStore(t, dsn), keyring(t, k2, k1), credentials.Options{Logger: logger})
	var reps [2]credentials.ResealReport
	var rerrs [2]error
	var rw sync.WaitGroup
	for i := range 2 {
		rw.Add(1)
		go func() { defer rw.Done(); reps[i], rerrs[i] = resealer.Reseal(ctx) }()
	}
	for i := 0; i < 20; i++ {
		if _, err := serving.SaveWinRM(ctx, fmt.Sprintf("ws-%03d", i*7), fmt.Sprintf("user%d", i*7), secrets.NewSecret(password(i*7)), "rewrite"); err != nil {
			t.Fatal(err)
		}
	}
	rw.Wait()
	for i, err := range rerrs {
		if err != nil {
			t.Fatalf("reseal %d: %v", i, err)
		}
	}
	if got := reps[0].Resealed + reps[1].Resealed; got+reps[0].Skipped+reps[1].Skipped < n+1-20 || got > n+1 {
		t.Fatalf("reports %+v %+v", reps[0], reps[1])
	}
	t.Logf("concurrent reseal reports %+v %+v", reps[0], reps[1])
	waitReads(50)

	// 2. An old-key worker wrote more rows meanwhile; the built command
	// re-seals them, still while the readers read.
	saveRows(n, n+30)
	total.Store(n + 30)
	bin := buildWorker(t)
	cmd := exec.Command(bin, "reseal-credentials")
	cmd.Env = []string{"MYSQL_DSN=" + dsn, "OPS_SECRETS_KEY=" + k2, "OPS_SECRETS_PREVIOUS_KEYS=" + k1, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("reseal-credentials: %v\n%s", err, out)
	}
	ids := keyring(t, k2, k1)
	if !strings.Contains(string(out), "checked 30, resealed 30, skipped 0") || !strings.Contains(string(out), ids.CurrentID()) {
		t.Fatalf("command output: %s", out)
	}
	waitReads(50)
	close(stop)
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d of %d reads failed during the rotation: %v", f, reads.Load(), failMsgs[:min(5, len(failMsgs))])
	}
	t.Logf("%d reads during the rotation, none failed", reads.Load())

	// Every row is under K2, and K2 alone reads them all.
	left, err := st.CredentialsNotUnder(ctx, ids.CurrentID(), 1000)
	if err != nil || len(left) != 0 {
		t.Fatalf("%d rows not under K2: %v", len(left), err)
	}
	only := credentials.New(st, keyring(t, k2), credentials.Options{})
	for i := range n + 30 {
		_, pass, found, err := only.WinRM(ctx, fmt.Sprintf("ws-%03d", i))
		if err != nil || !found || pass.Reveal() != password(i) {
			t.Fatalf("K2 only, ws-%03d: %v %v", i, found, err)
		}
	}
	if typ, creds, err := only.Power(ctx, "pdu-1"); err != nil || typ != "netio-http-basic" || creds["password"] != password(999) {
		t.Fatalf("K2 only, power: %v", err)
	}
	// K1 alone now reads nothing, naming K2's id.
	_, _, _, err = credentials.New(st, keyring(t, k1), credentials.Options{}).WinRM(ctx, "ws-000")
	if err == nil || !strings.Contains(err.Error(), ids.CurrentID()) || !strings.Contains(err.Error(), "OPS_SECRETS_PREVIOUS_KEYS") {
		t.Fatalf("K1 after rotation: %v", err)
	}

	texts := map[string]string{"logs": logs.String(), "command": string(out), "error": err.Error(), "fails": strings.Join(failMsgs, "\n")}
	secretList := []string{k1, k2}
	for i := range n + 30 {
		secretList = append(secretList, password(i))
	}
	secretList = append(secretList, password(999))
	if where := leaked(secretList, texts); len(where) > 0 {
		t.Fatalf("a secret in %v", where)
	}
	if !strings.Contains(logs.String(), "credential saved") {
		t.Fatal("no log captured: the leak check saw nothing")
	}
	texts["planted"] = "key=" + k1
	if where := leaked(secretList, texts); len(where) != 1 || where[0] != "planted" {
		t.Fatalf("leak check found %v, want [planted]", where)
	}
	t.Run("Refusals", func(t *testing.T) { checkResealRefusals(t, bin) })
}

func leaked(secretList []string, texts map[string]string) []string {
	var out []string
	for name, text := range texts {
		for _, s := range secretList {
			if strings.Contains(text, s) {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// checkResealRefusals: the command refuses to run without MYSQL_DSN (the
// embedded database lives in one worker) and without a valid key, naming
// what to set and never the key.
func checkResealRefusals(t *testing.T, bin string) {
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"OPS_SECRETS_KEY=" + keyText(1)}, "MYSQL_DSN is not set"},
		{[]string{"MYSQL_DSN=mysql://u:p@127.0.0.1:1/db"}, "set OPS_SECRETS_KEY"},
		{[]string{"MYSQL_DSN=mysql://u:p@127.0.0.1:1/db", "OPS_SECRETS_KEY=c2hvcnQ"}, "OPS_SECRETS_KEY: key decodes to 5 bytes"},
	} {
		cmd := exec.Command(bin, "reseal-credentials")
		cmd.Env = append(tt.env, "PATH="+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) || strings.Contains(string(out), "c2hvcnQ") {
			t.Errorf("%v: %v %s", tt.env, err, out)
		}
	}
}
