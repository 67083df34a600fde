package labsim_test

// Windows behaviours labsim has by default, and the knobs that turn them
// off. The file name avoids a _windows suffix (a GOOS build constraint).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

// rawStation posts hand-made SOAP (built with masterzen's request
// builders, then edited) over HTTPS with NTLM.
type rawStation struct {
	t      *testing.T
	h      *labsim.Host
	url    string
	client *http.Client
	params *winrm.Parameters
}

func newRawStation(t *testing.T, sim *labsim.Sim, h *labsim.Host, opTimeout string) *rawStation {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sim.CACertPEM())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
	t.Cleanup(tr.CloseIdleConnections)
	return &rawStation{t: t, h: h, url: "https://127.0.0.1:" + itoa(h.HTTPSPort()) + "/wsman",
		client: &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: tr}, Timeout: 20 * time.Second},
		params: winrm.NewParameters(opTimeout, "en-US", 153600)}
}

func (r *rawStation) post(body string) (int, string) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.SetBasicAuth(r.h.User(), r.h.Password()) // the Negotiator turns these into NTLM
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return resp.StatusCode, string(b)
}

var (
	shellIDRe   = regexp.MustCompile(`<rsp:ShellId>([^<]+)</rsp:ShellId>`)
	commandIDRe = regexp.MustCompile(`<rsp:CommandId>([^<]+)</rsp:CommandId>`)
	streamRe    = regexp.MustCompile(`<rsp:Stream Name="stdout"[^>]*>([^<]+)</rsp:Stream>`)
)

// createShell creates a shell; without codepage it leaves out the
// WINRS_CODEPAGE option masterzen sends.
func (r *rawStation) createShell(codepage bool) string {
	r.t.Helper()
	msg := winrm.NewOpenShellRequest(r.url, r.params).String()
	if !codepage {
		msg = strings.Replace(msg, `<w:Option Name="WINRS_CODEPAGE">65001</w:Option>`, "", 1)
	}
	status, body := r.post(msg)
	m := shellIDRe.FindStringSubmatch(body)
	if status != 200 || m == nil {
		r.t.Fatalf("create shell: HTTP %d %s", status, body)
	}
	return m[1]
}

func (r *rawStation) command(shellID, line string) string {
	r.t.Helper()
	status, body := r.post(winrm.NewExecuteCommandRequest(r.url, shellID, line, nil, r.params).String())
	m := commandIDRe.FindStringSubmatch(body)
	if status != 200 || m == nil {
		r.t.Fatalf("command: HTTP %d %s", status, body)
	}
	return m[1]
}

func (r *rawStation) receive(shellID, commandID string) (int, string) {
	r.t.Helper()
	return r.post(winrm.NewGetOutputRequest(r.url, shellID, commandID, "stdout stderr", r.params).String())
}

// stdout decodes the stdout streams of one Receive answer.
func stdout(t *testing.T, body string) []byte {
	t.Helper()
	var out []byte
	for _, m := range streamRe.FindAllStringSubmatch(body, -1) {
		b, err := base64.StdEncoding.DecodeString(m[1])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

func TestSleep_BlackholeByDefault(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{Name: "blackhole"}, labsim.HostOptions{Name: "refuse", SleepMode: labsim.SleepRefuse})
	bh, rf := sim.Host("blackhole"), sim.Host("refuse")
	bh.Sleep()
	rf.Sleep()
	start := time.Now()
	if !dialNoAnswer(bh.HTTPSPort()) || !dialNoAnswer(bh.HTTPPort()) {
		t.Fatal("default sleep: a dial to the WinRM ports got an answer, want none until the dial timeout")
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("two 300ms dials ended after %v: not waiting for their timeout", d)
	}
	if !dialRefused(rf.HTTPSPort()) || !dialRefused(rf.HTTPPort()) {
		t.Fatal("SleepRefuse: dial not refused")
	}
	// A magic packet still wakes a blackholed host, on the same ports.
	sendUDP(t, bh.WakePort(), magicPacket(t, bh.MAC()))
	if !waitFor(t, 3*time.Second, func() bool { return !bh.Asleep() }) {
		t.Fatal("blackholed host did not wake")
	}
	c := newClient(t, sim, bh, httpsNTLM, bh.Password(), "PT5S")
	if _, errOut, code, err := run(t, c, labStation+" status"); err != nil || code != 0 {
		t.Fatalf("after wake: code %d err %v stderr %q", code, err, errOut)
	}

	if _, err := labsim.Start(context.Background(), labsim.Options{Hosts: []labsim.HostOptions{{SleepMode: "nap"}}}); err == nil {
		t.Error("Start with SleepMode \"nap\": got no error")
	}
}

func TestExec_ProgramNotFound(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{Name: "std"}, labsim.HostOptions{Name: "custom", LabStationExe: `D:\Tools\LabStation.exe`})
	c := newClient(t, sim, sim.Host("std"), httpsNTLM, sim.Host("std").Password(), "PT5S")
	out, errOut, code, err := run(t, c, `C:\Wrong\LabStation.exe status`)
	if err != nil {
		t.Fatal(err)
	}
	want := "'C:\\Wrong\\LabStation.exe' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
	if code != 9009 || errOut != want || out != "" {
		t.Errorf("wrong path: code %d stdout %q stderr %q; want 9009 and %q", code, out, errOut, want)
	}
	cu := sim.Host("custom")
	c = newClient(t, sim, cu, httpsNTLM, cu.Password(), "PT5S")
	if _, errOut, code, err := run(t, c, `d:/tools/labstation.exe status`); err != nil || code != 0 {
		t.Errorf("LabStationExe D:\\Tools: code %d err %v stderr %q", code, err, errOut)
	}
	if _, _, code, err := run(t, c, labStation+" status"); err != nil || code != 9009 {
		t.Errorf("default path on a host with another LabStationExe: code %d err %v, want 9009", code, err)
	}
}

// masterzen's own transports read a fault (HTTP 500) as an answer: their
// Post drops the status (a deferred assignment to unnamed results). So the
// shell tests look at the station's answers themselves.

func TestShells_MaxPerUser(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{Name: "default"}, labsim.HostOptions{Name: "two", MaxShellsPerUser: 2},
		labsim.HostOptions{Name: "unlimited", MaxShellsPerUser: -1})
	for _, tc := range []struct {
		host string
		max  int
	}{{"default", 30}, {"two", 2}, {"unlimited", 0}} {
		r := newRawStation(t, sim, sim.Host(tc.host), "PT5S")
		n := tc.max
		if n == 0 {
			n = 40
		}
		var first string
		for i := 0; i < n; i++ {
			id := r.createShell(true)
			if i == 0 {
				first = id
			}
		}
		if tc.max == 0 {
			continue
		}
		status, body := r.post(winrm.NewOpenShellRequest(r.url, r.params).String())
		want := "This user is allowed a maximum number of " + itoa(tc.max) + " concurrent shells, which has been exceeded."
		if status != 500 || !strings.Contains(body, want) || !strings.Contains(body, `Code="2150859173"`) {
			t.Errorf("%s: shell %d: HTTP %d %s, want the QuotaLimit fault %q", tc.host, tc.max+1, status, body, want)
		}
		if status, body := r.post(winrm.NewDeleteShellRequest(r.url, first, r.params).String()); status != 200 {
			t.Fatalf("delete: HTTP %d %s", status, body)
		}
		r.createShell(true) // room again
	}
}

func TestShells_IdleExpiry(t *testing.T) {
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	sim, err := labsim.Start(context.Background(), labsim.Options{Now: now, Hosts: []labsim.HostOptions{
		// rawStation's NTLM (go-ntlmssp) sends no channel binding.
		{Name: "default", CBT: labsim.CBTNone}, {Name: "never", IdleTimeout: -1, CBT: labsim.CBTNone},
		{Name: "short", IdleTimeout: time.Minute, MaxShellsPerUser: 1, CBT: labsim.CBTNone}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	stations := map[string]*rawStation{}
	shells := map[string]string{}
	for _, name := range []string{"default", "never", "short"} {
		stations[name] = newRawStation(t, sim, sim.Host(name), "PT5S")
		shells[name] = stations[name].createShell(true)
	}
	// exec runs a command in the host's shell; "" when it ran, else the fault.
	exec := func(name string) string {
		r := stations[name]
		status, body := r.post(winrm.NewExecuteCommandRequest(r.url, shells[name], labStation+" status", nil, r.params).String())
		if status == 200 {
			return ""
		}
		return body
	}
	const gone = "the shell was not found on the server"
	skew.Store(int64(90 * time.Minute))
	if f := exec("default"); f != "" {
		t.Errorf("default after 90 min idle: %s", f)
	}
	if f := exec("short"); !strings.Contains(f, gone) || !strings.Contains(f, "w:InvalidSelectors") {
		t.Errorf("IdleTimeout 1m after 90 min: %q, want the unknown-shell fault", f)
	}
	stations["short"].createShell(true) // the expired shell no longer counts against MaxShellsPerUser 1
	skew.Store(int64(90*time.Minute + 2*time.Hour + time.Minute))
	if f := exec("default"); !strings.Contains(f, gone) {
		t.Errorf("default after 2h01 idle: %q, want the unknown-shell fault", f)
	}
	if f := exec("never"); f != "" {
		t.Errorf("IdleTimeout -1 after 3h31 idle: %s", f)
	}
}

// sizeRecorder notes the size of every answer the station sends.
type sizeRecorder struct {
	winrm.Transporter
	mu    sync.Mutex
	sizes []int
}

func (r *sizeRecorder) Post(c *winrm.Client, m *soap.SoapMessage) (string, error) {
	s, err := r.Transporter.Post(c, m)
	r.mu.Lock()
	r.sizes = append(r.sizes, len(s))
	r.mu.Unlock()
	return s, err
}

func TestEnvelope_Limits(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{Name: "default"}, labsim.HostOptions{Name: "nolimit", MaxEnvelopeSize: -1})
	h := sim.Host("default")
	rec := &sizeRecorder{Transporter: &winrm.ClientNTLM{}}
	ep := winrm.NewEndpoint("127.0.0.1", h.HTTPSPort(), true, false, sim.CACertPEM(), nil, nil, 10*time.Second)
	params := winrm.NewParameters("PT5S", "en-US", 153600) // what the worker asks
	params.TransportDecorator = func() winrm.Transporter { return rec }
	c, err := winrm.NewClientWithParameters(ep, h.User(), h.Password(), params)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("answers fit the client's MaxEnvelopeSize", func(t *testing.T) {
		text := strings.Repeat("0123456789", 40000) // 400 kB of output
		h.SetFile(`C:\big.txt`, []byte(text))
		out, errOut, code, err := run(t, c, `powershell.exe -Command Get-Content -LiteralPath 'C:\big.txt' -Raw`)
		if err != nil || code != 0 || strings.TrimSuffix(out, "\r\n") != text {
			t.Fatalf("code %d err %v stderr %q, stdout %d bytes (want %d)", code, err, errOut, len(out), len(text))
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		big := 0
		for _, n := range rec.sizes {
			if n > 153600 {
				t.Errorf("an answer of %d bytes, over the 153600 the client asked", n)
			}
			if n > 100000 {
				big++
			}
		}
		if big < 3 {
			t.Errorf("answer sizes %v: want the output split over at least 3 Receive answers", rec.sizes)
		}
	})

	t.Run("request over 500 KB", func(t *testing.T) {
		r := newRawStation(t, sim, h, "PT5S")
		shellID := r.createShell(true)
		status, body := r.post(winrm.NewExecuteCommandRequest(r.url, shellID, strings.Repeat("x", 520000), nil, r.params).String())
		if status != 413 || !strings.Contains(body, "w:EncodingLimit") {
			t.Errorf("HTTP %d %s, want 413 with the w:EncodingLimit fault", status, body)
		}
	})
	t.Run("no limit", func(t *testing.T) {
		r := newRawStation(t, sim, sim.Host("nolimit"), "PT5S")
		shellID := r.createShell(true)
		status, body := r.post(winrm.NewExecuteCommandRequest(r.url, shellID, strings.Repeat("x", 520000), nil, r.params).String())
		if status != 200 {
			t.Errorf("MaxEnvelopeSize -1: HTTP %d %s", status, body)
		}
	})
}

func TestCodePage_OEMUnlessUTF8Asked(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{Name: "oem"}, labsim.HostOptions{Name: "utf8", OEMCodePage: 65001},
		labsim.HostOptions{Name: "cp850", OEMCodePage: 850})
	const line = `powershell.exe -Command Write-Output 'Café → Ω'`
	for _, tc := range []struct {
		host     string
		codepage bool
		line     string
		want     string
	}{
		{"oem", false, line, "Caf\x82 ? \xea\r\n"}, // CP437: é=0x82, Ω=0xEA, no arrow
		{"oem", true, line, "Café → Ω\r\n"},        // WINRS_CODEPAGE 65001, as masterzen asks
		{"oem", false, `powershell.exe -Command "[Console]::OutputEncoding = [System.Text.Encoding]::UTF8; Write-Output 'Café'"`, "Café\r\n"},
		{"utf8", false, line, "Café → Ω\r\n"},
		{"cp850", false, line, "Caf\x82 ? ?\r\n"}, // CP850 has é, not Ω
	} {
		r := newRawStation(t, sim, sim.Host(tc.host), "PT5S")
		shellID := r.createShell(tc.codepage)
		cmdID := r.command(shellID, tc.line)
		status, body := r.receive(shellID, cmdID)
		if got := string(stdout(t, body)); status != 200 || got != tc.want {
			t.Errorf("%s, codepage option %v, %s: HTTP %d stdout %q, want %q", tc.host, tc.codepage, tc.line, status, got, tc.want)
		}
	}
	// Through masterzen (WINRS_CODEPAGE 65001) on an OEM host.
	h := sim.Host("oem")
	c := newClient(t, sim, h, httpsNTLM, h.Password(), "PT5S")
	if out, _, _, err := run(t, c, line); err != nil || out != "Café → Ω\r\n" {
		t.Errorf("masterzen: stdout %q err %v, want UTF-8", out, err)
	}
}

func TestPowerShell_ExitCodeIsLastStatus(t *testing.T) {
	sim := mustStart(t)
	h := sim.Hosts()[0]
	c := newClient(t, sim, h, httpsNTLM, h.Password(), "PT5S")
	const missing = `Get-Content -LiteralPath 'C:\missing.txt'`
	for _, tc := range []struct {
		script  string
		code    int
		stdout  string
		errRecs bool
	}{
		{missing + "\nWrite-Output 'after'", 0, "after\r\n", true},
		{"Write-Output 'before'\n" + missing, 1, "before\r\n", true},
		{"$ErrorActionPreference = 'Stop'\n" + missing + "\nWrite-Output 'never'", 1, "", true},
		{"try { " + missing + " -ErrorAction Stop } catch { Write-Output 'caught' }", 0, "caught\r\n", false},
		{missing + "\nexit 3", 3, "", true},
		{"Bogus-Command\nWrite-Output 'x'", 0, "x\r\n", true},
		{"Write-Output 'x'\nBogus-Command", 1, "x\r\n", true},
	} {
		out, errOut, code, err := runPS(t, c, tc.script)
		if err != nil || code != tc.code || out != tc.stdout || (errOut != "") != tc.errRecs {
			t.Errorf("%q: code %d stdout %q stderr %q err %v; want code %d stdout %q, error records %v",
				tc.script, code, out, errOut, err, tc.code, tc.stdout, tc.errRecs)
		}
	}
}

func TestFaults_WindowsShapes(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{Name: "lab-ws-01", MaxShellsPerUser: 1})
	h := sim.Host("lab-ws-01")
	r := newRawStation(t, sim, h, "PT0.3S")
	shellID := r.createShell(true)
	h.SetFaults(labsim.Faults{Hang: true})
	cmdID := r.command(shellID, labStation+" status")
	detail := func(code string) string {
		return `<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="` + code + `" Machine="LAB-WS-01"><f:Message>`
	}
	for _, tc := range []struct {
		name    string
		do      func() (int, string)
		status  int
		code    string
		subcode string
		wsman   string
	}{
		{"OperationTimeout", func() (int, string) { return r.receive(shellID, cmdID) }, 500, "s:Receiver", "w:TimedOut", "2150858793"},
		{"unknown shell", func() (int, string) { return r.receive("00000000-0000-0000-0000-000000000000", cmdID) }, 500, "s:Sender", "w:InvalidSelectors", "2150858843"},
		{"max shells", func() (int, string) {
			return r.post(winrm.NewOpenShellRequest(r.url, r.params).String())
		}, 500, "s:Sender", "w:QuotaLimit", "2150859173"},
		{"bad XML", func() (int, string) { return r.post("<s:Envelope") }, 500, "s:Sender", "w:SchemaValidationError", "2150858817"},
		{"over MaxEnvelopeSize", func() (int, string) {
			return r.post(winrm.NewExecuteCommandRequest(r.url, shellID, strings.Repeat("x", 520000), nil, r.params).String())
		}, 413, "s:Sender", "w:EncodingLimit", "2150858805"},
	} {
		status, body := tc.do()
		want := []string{`<s:Value>` + tc.code + `</s:Value>`, `<s:Subcode><s:Value>` + tc.subcode + `</s:Value></s:Subcode>`, detail(tc.wsman),
			`<a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action>`}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: body lacks %s:\n%s", tc.name, w, body)
			}
		}
		if status != tc.status {
			t.Errorf("%s: HTTP %d, want %d", tc.name, status, tc.status)
		}
	}
}

func TestFaults_DieMidCall(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{Name: "a", SleepMode: labsim.SleepRefuse})
	h := sim.Host("a")
	h.SetFaults(labsim.Faults{DieMidCall: true})
	c := newClient(t, sim, h, httpsNTLM, h.Password(), "PT10S")
	start := time.Now()
	_, _, _, err := run(t, c, labStation+" status")
	if err == nil {
		t.Error("a host dying during Receive: got no error")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("error after %v, want at once", d)
	}
	if !h.Asleep() || !dialRefused(h.HTTPSPort()) {
		t.Error("host not asleep after dying")
	}
	h.SetFaults(labsim.Faults{})
	h.Wake()
	if _, _, code, err := run(t, c, labStation+" status"); err != nil || code != 0 {
		t.Errorf("after Wake without the fault: code %d err %v", code, err)
	}
}
