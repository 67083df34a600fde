package direct_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/lab/direct"
)

func ptr[T any](v T) *T { return &v }

const (
	hostSecret    = "host-Secret-7x"
	requestSecret = "req-Secret-9y"
)

// leaked returns the secrets found in s.
func leaked(s string, secrets ...string) []string {
	var out []string
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			out = append(out, sec)
		}
	}
	return out
}

// The leak check must be able to fail (an earlier version looked for
// password+"\x00", which no message could ever hold).
func TestLeaked_CanFail(t *testing.T) {
	if got := leaked("transport: bad for "+requestSecret, hostSecret, requestSecret); len(got) != 1 {
		t.Fatalf("leaked missed the secret: %v", got)
	}
	if got := leaked("transport: not allowed", hostSecret, requestSecret); len(got) != 0 {
		t.Fatalf("leaked reported %v in a clean message", got)
	}
}

func TestPolicy_Target(t *testing.T) {
	httpsHost := hosts.Host{Name: "h1", Address: "10.0.0.1", WinRMUser: "svc", WinRMPass: hostSecret,
		WinRMTransport: "ntlm", WinRMUseSSL: true}
	httpHost := httpsHost
	httpHost.WinRMUseSSL = false
	httpHost.WinRMPort = 5985
	basicHost := httpsHost
	basicHost.WinRMTransport = "basic"
	kerbHost := httpsHost
	kerbHost.WinRMTransport = "kerberos"
	customPort := httpsHost
	customPort.WinRMPort = 15986
	strict := direct.Policy{AllowedTransports: []string{"ntlm", "kerberos"}}
	open := direct.Policy{AllowedTransports: []string{"NTLM", " basic ", "kerberos"}, AllowCredentialOverride: true}

	type got struct {
		transport string
		ssl       bool
		port      int
		user      string
		pass      string
	}
	tests := []struct {
		name      string
		p         direct.Policy
		h         hosts.Host
		o         lab.CommandOptions
		wantField string // "" = allowed
		want      *got
	}{
		{name: "no override", p: strict, h: httpsHost, want: &got{"ntlm", true, 5986, "svc", hostSecret}},
		{name: "downgrade refused", p: open, h: httpsHost, o: lab.CommandOptions{UseSSL: ptr(false)}, wantField: "use_ssl"},
		{name: "same ssl ok", p: strict, h: httpsHost, o: lab.CommandOptions{UseSSL: ptr(true)}},
		{name: "upgrade ok, port follows", p: strict, h: httpHost, o: lab.CommandOptions{UseSSL: ptr(true)}, want: &got{"ntlm", true, 5986, "svc", hostSecret}},
		{name: "upgrade with the https port ok", p: strict, h: httpHost, o: lab.CommandOptions{UseSSL: ptr(true), Port: 5986}, want: &got{"ntlm", true, 5986, "svc", hostSecret}},

		// Transport: keep or strengthen, within the list.
		{name: "ntlm to basic refused (weaker) even when basic is allowed", p: open, h: httpsHost, o: lab.CommandOptions{Transport: "BASIC"}, wantField: "transport"},
		{name: "kerberos to ntlm refused (weaker)", p: open, h: kerbHost, o: lab.CommandOptions{Transport: "ntlm"}, wantField: "transport"},
		{name: "kerberos to basic refused (weaker)", p: open, h: kerbHost, o: lab.CommandOptions{Transport: "basic"}, wantField: "transport"},
		{name: "same transport ok", p: strict, h: httpsHost, o: lab.CommandOptions{Transport: " NTLM "}, want: &got{"ntlm", true, 5986, "svc", hostSecret}},
		{name: "ntlm to kerberos ok", p: strict, h: httpsHost, o: lab.CommandOptions{Transport: "kerberos"}, want: &got{"kerberos", true, 5986, "svc", hostSecret}},
		{name: "basic to ntlm ok", p: open, h: basicHost, o: lab.CommandOptions{Transport: "ntlm"}, want: &got{"ntlm", true, 5986, "svc", hostSecret}},
		{name: "strengthen outside list refused", p: direct.Policy{AllowedTransports: []string{"ntlm"}}, h: httpsHost, o: lab.CommandOptions{Transport: "kerberos"}, wantField: "transport"},
		{name: "unknown transport refused", p: open, h: httpsHost, o: lab.CommandOptions{Transport: "credssp-" + requestSecret}, wantField: "transport"},
		{name: "host transport outside list", p: direct.Policy{AllowedTransports: []string{"kerberos"}}, h: httpsHost, wantField: "transport"},
		{name: "basic over http refused", p: open, h: func() hosts.Host { h := httpHost; h.WinRMTransport = "basic"; return h }(), wantField: "transport"},

		// Allowlist: empty or blank allows nothing; the zero Policy, ntlm and kerberos.
		{name: "empty list allows nothing", p: direct.Policy{AllowedTransports: []string{}}, h: httpsHost, wantField: "transport"},
		{name: "blank list allows nothing", p: direct.Policy{AllowedTransports: []string{"", " "}}, h: httpsHost, wantField: "transport"},
		{name: "zero policy: ntlm", p: direct.Policy{}, h: httpsHost, want: &got{"ntlm", true, 5986, "svc", hostSecret}},
		{name: "zero policy: kerberos override", p: direct.Policy{}, h: httpsHost, o: lab.CommandOptions{Transport: "kerberos"}, want: &got{"kerberos", true, 5986, "svc", hostSecret}},
		{name: "zero policy: no basic", p: direct.Policy{}, h: basicHost, wantField: "transport"},

		// Port: never changed by a request.
		{name: "port override refused", p: strict, h: httpsHost, o: lab.CommandOptions{Port: 15986}, wantField: "port"},
		{name: "port to http default refused", p: strict, h: httpsHost, o: lab.CommandOptions{Port: 5985}, wantField: "port"},
		{name: "port equal to the effective one ok", p: strict, h: httpsHost, o: lab.CommandOptions{Port: 5986}, want: &got{"ntlm", true, 5986, "svc", hostSecret}},
		{name: "custom host port kept", p: strict, h: customPort, o: lab.CommandOptions{Port: 15986}, want: &got{"ntlm", true, 15986, "svc", hostSecret}},
		{name: "custom host port, default asked", p: strict, h: customPort, o: lab.CommandOptions{Port: 5986}, wantField: "port"},
		{name: "port out of range", p: strict, h: httpsHost, o: lab.CommandOptions{Port: 70000}, wantField: "port"},
		{name: "negative port", p: strict, h: httpsHost, o: lab.CommandOptions{Port: -1}, wantField: "port"},

		// Credentials.
		{name: "credential override refused", p: strict, h: httpsHost, o: lab.CommandOptions{User: "admin", Password: requestSecret}, wantField: "user"},
		{name: "password-only override refused", p: strict, h: httpsHost, o: lab.CommandOptions{Password: requestSecret}, wantField: "password"},
		{name: "credential override allowed", p: open, h: httpsHost, o: lab.CommandOptions{User: "admin", Password: requestSecret}, want: &got{"ntlm", true, 5986, "admin", requestSecret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := tt.p.Target(tt.h, "", tt.o)
			if tt.wantField != "" {
				var pe *lab.PolicyError
				if !errors.As(err, &pe) || !errors.Is(err, lab.ErrPolicy) || pe.Field != tt.wantField {
					t.Fatalf("err = %v, want PolicyError on %q", err, tt.wantField)
				}
				if l := leaked(err.Error(), hostSecret, requestSecret); len(l) > 0 {
					t.Errorf("error %q holds %q", err, l)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.want != nil {
				g := got{tg.Transport, tg.UseSSL, tg.EffectivePort(), tg.User, tg.Password}
				if g != *tt.want {
					t.Errorf("target = %+v, want %+v", g, *tt.want)
				}
			}
			if tg.Name != tt.h.Name {
				t.Errorf("target name = %q, want the host's %q", tg.Name, tt.h.Name)
			}
		})
	}
}

// CommandOptions printed, logged or marshalled in any common way never
// holds the password, and still shows the other fields.
func TestCommandOptions_NoSecretInOutput(t *testing.T) {
	o := lab.CommandOptions{Transport: "kerberos", UseSSL: ptr(true), Port: 5986, User: "admin", Password: requestSecret}
	j, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	jp, _ := json.Marshal(struct{ O *lab.CommandOptions }{&o})
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("m", "o", o, "p", &o)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "o", o, "p", &o)
	outs := map[string]string{
		"%v": fmt.Sprintf("%v", o), "%+v": fmt.Sprintf("%+v", o), "%#v": fmt.Sprintf("%#v", o), "%s": fmt.Sprintf("%s", o),
		"%+v ptr": fmt.Sprintf("%+v", &o), "%#v ptr": fmt.Sprintf("%#v", &o), "%v slice": fmt.Sprintf("%v", []lab.CommandOptions{o}),
		"json": string(j), "json ptr": string(jp), "slog text": text.String(), "slog json": js.String(),
	}
	for name, out := range outs {
		if l := leaked(out, requestSecret); len(l) > 0 {
			t.Errorf("%s holds the password: %s", name, out)
		}
		if !strings.Contains(out, "admin") || !strings.Contains(out, "kerberos") {
			t.Errorf("%s lost the other fields: %s", name, out)
		}
	}
	// Decoding a request body still reads the password.
	var back lab.CommandOptions
	if err := json.Unmarshal([]byte(`{"User":"u","Password":"p"}`), &back); err != nil || back.Password != "p" {
		t.Errorf("unmarshal: %+v %v", back.User, err)
	}
}
