package lambdafn_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/global"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"

	"github.com/ops-worker/ops-worker/internal/api"
	"github.com/ops-worker/ops-worker/internal/config"
)

// repoRoot is the module's root (this package is internal/lambdafn).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// functionDirs are the folders under functions/ that hold a main.go.
func functionDirs(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(repoRoot(t), "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(repoRoot(t), "functions", e.Name(), "main.go")); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no functions/<name>/main.go")
	}
	return out
}

// logicalID is a function folder's resource name in template.yaml:
// heartbeat-poll -> HeartbeatPollFunction.
func logicalID(folder string) string {
	var b strings.Builder
	for _, w := range strings.Split(folder, "-") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String() + "Function"
}

func openTemplate(t *testing.T) *cloudformation.Template {
	t.Helper()
	tpl, err := goformation.Open(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return tpl
}

func globalFunction(t *testing.T, tpl *cloudformation.Template) *global.Function {
	t.Helper()
	g, ok := tpl.Globals["Function"].(*global.Function)
	if !ok {
		t.Fatalf("template.yaml: Globals.Function missing or of type %T", tpl.Globals["Function"])
	}
	return g
}

// TestTemplate_FoldersAndResources: every functions/ folder has its
// resource and every function resource its folder, built by the Makefile.
func TestTemplate_FoldersAndResources(t *testing.T) {
	tpl := openTemplate(t)
	fns := tpl.GetAllServerlessFunctionResources()
	g := globalFunction(t, tpl)
	want := map[string]string{} // logical id -> folder
	for _, d := range functionDirs(t) {
		want[logicalID(d)] = d
		if _, ok := fns[logicalID(d)]; !ok {
			t.Errorf("functions/%s has no resource %s in template.yaml", d, logicalID(d))
		}
	}
	for id, fn := range fns {
		if _, ok := want[id]; !ok {
			t.Errorf("resource %s has no folder under functions/", id)
		}
		code := fn.CodeUri
		if code == nil {
			code = g.CodeUri
		}
		if code == nil || code.String == nil {
			t.Errorf("%s: no CodeUri (local path)", id)
			continue
		}
		dir := filepath.Join(repoRoot(t), *code.String)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			t.Errorf("%s: CodeUri %s is not a folder", id, *code.String)
		} else if _, err := os.Stat(filepath.Join(dir, "Makefile")); err != nil {
			t.Errorf("%s: CodeUri %s has no Makefile (BuildMethod makefile runs make there)", id, *code.String)
		}
		if bm, _ := fn.AWSCloudFormationMetadata["BuildMethod"].(string); bm != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod = %q, want makefile", id, bm)
		}
	}
	if r := g.Runtime; r == nil || *r != "provided.al2023" {
		t.Errorf("Globals.Function.Runtime = %v, want provided.al2023", r)
	}
	if h := g.Handler; h == nil || *h != "bootstrap" {
		t.Errorf("Globals.Function.Handler = %v, want bootstrap", h)
	}
	if p, ok := tpl.Parameters["Architecture"]; !ok || p.Default != "arm64" {
		t.Errorf("parameter Architecture: default %v, want arm64", p.Default)
	}
	if _, ok := tpl.Outputs["ApiUrl"]; !ok {
		t.Error("no output ApiUrl")
	}
}

// TestTemplate_Routes: the HTTP API events are exactly api.Routes, each on
// the function of the route's name (the one route that function serves).
func TestTemplate_Routes(t *testing.T) {
	tpl := openTemplate(t)
	apis := tpl.GetAllServerlessHttpApiResources()
	if len(apis) != 1 {
		t.Errorf("want one AWS::Serverless::HttpApi, got %d", len(apis))
	}
	got := map[string]string{} // "METHOD path" -> logical id
	for id, fn := range tpl.GetAllServerlessFunctionResources() {
		for name, ev := range fn.Events {
			if ev.Type == "Schedule" {
				continue // the tick functions' (TestTemplate_TickSchedules)
			}
			if ev.Type != "HttpApi" || ev.Properties == nil || ev.Properties.HttpApiEvent == nil {
				t.Errorf("%s: event %s is %s, want HttpApi", id, name, ev.Type)
				continue
			}
			h := ev.Properties.HttpApiEvent
			if h.Method == nil || h.Path == nil {
				t.Errorf("%s: event %s without Method or Path", id, name)
				continue
			}
			key := strings.ToUpper(*h.Method) + " " + *h.Path
			if prev, dup := got[key]; dup {
				t.Errorf("%s twice: %s and %s", key, prev, id)
			}
			got[key] = id
		}
	}
	for _, rt := range api.Routes {
		if rt.Tick || rt.Stream {
			continue // EventBridge schedules, or function URLs (TestTemplate_StreamFunctions)
		}
		key := rt.Method + " " + rt.Path
		id, ok := got[key]
		switch {
		case !ok:
			t.Errorf("route %s (%s) has no function in template.yaml", key, rt.Name)
		case id != logicalID(rt.Name):
			t.Errorf("route %s is on %s, want %s (functions/%s)", key, id, logicalID(rt.Name), rt.Name)
		}
		delete(got, key)
	}
	for key, id := range got {
		t.Errorf("template route %s (%s) is not in api.Routes", key, id)
	}
}

// TestTemplate_StreamFunctions: each streaming route (api.Route.Stream)
// is served by its function through a function URL with response
// streaming, its own timeout and no HTTP API event; no other function has
// a function URL.
func TestTemplate_StreamFunctions(t *testing.T) {
	tpl := openTemplate(t)
	fns := tpl.GetAllServerlessFunctionResources()
	streams := map[string]bool{}
	for _, rt := range api.Routes {
		if !rt.Stream {
			continue
		}
		id := logicalID(rt.Name)
		streams[id] = true
		fn, ok := fns[id]
		if !ok {
			t.Errorf("streaming route %s %s has no function %s", rt.Method, rt.Path, id)
			continue
		}
		u := fn.FunctionUrlConfig
		if u == nil || u.InvokeMode == nil || *u.InvokeMode != "RESPONSE_STREAM" {
			t.Errorf("%s: FunctionUrlConfig %+v, want InvokeMode RESPONSE_STREAM", id, u)
		}
		if len(fn.Events) != 0 {
			t.Errorf("%s: events %v, want none (the HTTP API cannot stream)", id, fn.Events)
		}
		if fn.Timeout == nil {
			t.Errorf("%s: no Timeout of its own (the stream ends a margin before it)", id)
		}
	}
	if len(streams) == 0 {
		t.Fatal("no streaming route in api.Routes")
	}
	for id, fn := range fns {
		if fn.FunctionUrlConfig != nil && !streams[id] {
			t.Errorf("%s has a function URL but serves no streaming route", id)
		}
	}
	if _, ok := tpl.Outputs["HeartbeatStreamUrl"]; !ok {
		t.Error("no output HeartbeatStreamUrl")
	}
}

// TestTemplate_TickSchedules: the tick functions (functions/tick-*) each
// have exactly one EventBridge Schedule event at rate(1 minute), EventBridge's
// finest, and no HTTP route; no other function has a schedule.
func TestTemplate_TickSchedules(t *testing.T) {
	tpl := openTemplate(t)
	fns := tpl.GetAllServerlessFunctionResources()
	ticks := 0
	for _, d := range functionDirs(t) {
		fn, ok := fns[logicalID(d)]
		if !ok {
			continue // TestTemplate_FoldersAndResources says so
		}
		var sched []string
		for name, ev := range fn.Events {
			if ev.Type == "Schedule" && ev.Properties != nil && ev.Properties.ScheduleEvent != nil {
				sched = append(sched, ev.Properties.ScheduleEvent.Schedule)
			} else if strings.HasPrefix(d, "tick-") {
				t.Errorf("%s: event %s is %s, want only a Schedule", logicalID(d), name, ev.Type)
			}
		}
		switch {
		case strings.HasPrefix(d, "tick-"):
			ticks++
			if len(sched) != 1 || sched[0] != "rate(1 minute)" {
				t.Errorf("%s: schedules %q, want one rate(1 minute)", logicalID(d), sched)
			}
			if fn.Timeout == nil {
				t.Errorf("%s: no Timeout of its own (the HTTP functions' is API Gateway's 29 s)", logicalID(d))
			}
		case len(sched) > 0:
			t.Errorf("%s: schedules %q on a function that is not a tick", logicalID(d), sched)
		}
	}
	if ticks != 2 {
		t.Errorf("%d tick functions under functions/, want 2 (tick-heartbeats, tick-reservations)", ticks)
	}
}

// TestTemplate_Environment: every variable the template sets is one the
// configuration reads (a misspelt name would be silently ignored), or one
// the packaged host catalog references (env:NAME).
func TestTemplate_Environment(t *testing.T) {
	known := map[string]bool{}
	ct := reflect.TypeFor[config.Config]()
	for i := range ct.NumField() {
		if name, _, _ := strings.Cut(ct.Field(i).Tag.Get("env"), ","); name != "" {
			known[name] = true
		}
	}
	// The packaged catalog's env:NAME references (WinRM credentials) are
	// variables too: LAMBDA_HOSTS_JSON's when set, else the sample's.
	catalog := os.Getenv("LAMBDA_HOSTS_JSON")
	if catalog == "" {
		catalog = filepath.Join(repoRoot(t), "hosts.sample.json")
	}
	raw, err := os.ReadFile(catalog)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`"env:([A-Za-z_][A-Za-z0-9_]*)"`).FindAllStringSubmatch(string(raw), -1) {
		known[m[1]] = true
	}
	tpl := openTemplate(t)
	check := func(where string, env *serverless.Function_FunctionEnvironment) {
		if env == nil {
			return
		}
		for name := range env.Variables {
			if !known[name] {
				t.Errorf("%s: environment variable %s is not in internal/config", where, name)
			}
		}
	}
	g := globalFunction(t, tpl)
	if g.Environment == nil || len(g.Environment.Variables) == 0 {
		t.Error("Globals.Function.Environment is empty")
	}
	check("Globals", g.Environment)
	for id, fn := range tpl.GetAllServerlessFunctionResources() {
		check(id, fn.Environment)
	}
	for _, secret := range []string{"MySQLDsn", "LabManagerToken", "RelaySecret", "InternalAuthToken"} {
		if p, ok := tpl.Parameters[secret]; !ok || p.NoEcho == nil || !*p.NoEcho {
			t.Errorf("parameter %s: missing or not NoEcho", secret)
		}
	}
}

// TestTemplate_BuildTargets: every function has its build-<LogicalId>
// target, and one of them (all with OPS_TEST_LAMBDA_BUILD=all) really
// builds a static linux bootstrap next to the packaged catalog.
func TestTemplate_BuildTargets(t *testing.T) {
	root := repoRoot(t)
	catalog := filepath.Join(root, "hosts.sample.json")
	dirs := functionDirs(t)
	for _, d := range dirs {
		out, err := exec.Command("make", "-C", root, "-n", "build-"+logicalID(d),
			"ARTIFACTS_DIR="+t.TempDir(), "LAMBDA_HOSTS_JSON="+catalog).CombinedOutput()
		if err != nil {
			t.Errorf("make -n build-%s: %v\n%s", logicalID(d), err, out)
		} else if !strings.Contains(string(out), "./functions/"+d) {
			t.Errorf("build-%s does not build ./functions/%s:\n%s", logicalID(d), d, out)
		}
	}
	build := []string{"health"}
	if os.Getenv("OPS_TEST_LAMBDA_BUILD") == "all" {
		build = dirs
	}
	for _, d := range build {
		art := t.TempDir()
		out, err := exec.Command("make", "-C", root, "build-"+logicalID(d),
			"ARTIFACTS_DIR="+art, "LAMBDA_HOSTS_JSON="+catalog).CombinedOutput()
		if err != nil {
			t.Fatalf("make build-%s: %v\n%s", logicalID(d), err, out)
		}
		checkStaticELF(t, filepath.Join(art, "bootstrap"), elf.EM_AARCH64)
		want, _ := os.ReadFile(catalog)
		got, err := os.ReadFile(filepath.Join(art, "hosts.json"))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("build-%s: hosts.json not packaged (%v)", logicalID(d), err)
		}
	}
}

// checkStaticELF fails unless path is a linux ELF executable for machine
// with no program interpreter (statically linked).
func checkStaticELF(t *testing.T, path string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	defer f.Close()
	if f.Machine != machine {
		t.Errorf("%s: machine %v, want %v", path, f.Machine, machine)
	}
	if f.Type != elf.ET_EXEC {
		t.Errorf("%s: ELF type %v, want an executable", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: has a program interpreter: not statically linked", path)
		}
	}
	if f.Section(".dynamic") != nil {
		t.Errorf("%s: has a .dynamic section: not statically linked", path)
	}
}
