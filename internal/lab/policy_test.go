package lab_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
)

func ptr[T any](v T) *T { return &v }

func TestPolicy_Target(t *testing.T) {
	httpsHost := hosts.Host{Name: "h1", Address: "10.0.0.1", WinRMUser: "svc", WinRMPass: "host-secret",
		WinRMTransport: "ntlm", WinRMUseSSL: true}
	httpHost := httpsHost
	httpHost.WinRMUseSSL = false
	httpHost.WinRMPort = 5985
	strict := lab.Policy{AllowedTransports: []string{"ntlm", "kerberos"}}
	open := lab.Policy{AllowedTransports: []string{"ntlm", "basic"}, AllowCredentialOverride: true}

	tests := []struct {
		name      string
		p         lab.Policy
		h         hosts.Host
		o         lab.CommandOptions
		wantField string // "" = allowed
		check     func(t *testing.T, tr string, ssl bool, port string, user, pass string)
	}{
		{name: "no override", p: strict, h: httpsHost},
		{name: "downgrade refused", p: open, h: httpsHost, o: lab.CommandOptions{UseSSL: ptr(false)}, wantField: "use_ssl"},
		{name: "same ssl ok", p: strict, h: httpsHost, o: lab.CommandOptions{UseSSL: ptr(true)}},
		{name: "upgrade ok, port follows", p: strict, h: httpHost, o: lab.CommandOptions{UseSSL: ptr(true)},
			check: func(t *testing.T, _ string, ssl bool, port, _, _ string) {
				if !ssl || port != "5986" {
					t.Errorf("ssl=%v port=%s, want true 5986", ssl, port)
				}
			}},
		{name: "transport outside list", p: strict, h: httpsHost, o: lab.CommandOptions{Transport: "basic"}, wantField: "transport"},
		{name: "transport in list", p: open, h: httpsHost, o: lab.CommandOptions{Transport: "BASIC"},
			check: func(t *testing.T, tr string, _ bool, _, _, _ string) {
				if tr != "basic" {
					t.Errorf("transport = %q, want basic", tr)
				}
			}},
		{name: "host transport outside list", p: lab.Policy{AllowedTransports: []string{"kerberos"}}, h: httpsHost, wantField: "transport"},
		{name: "basic over http refused", p: open, h: httpHost, o: lab.CommandOptions{Transport: "basic"}, wantField: "transport"},
		{name: "credential override refused", p: strict, h: httpsHost, o: lab.CommandOptions{User: "admin", Password: "x"}, wantField: "user"},
		{name: "password-only override refused", p: strict, h: httpsHost, o: lab.CommandOptions{Password: "x"}, wantField: "password"},
		{name: "credential override allowed", p: open, h: httpsHost, o: lab.CommandOptions{User: "admin", Password: "other"},
			check: func(t *testing.T, _ string, _ bool, _, user, pass string) {
				if user != "admin" || pass != "other" {
					t.Errorf("user/pass = %q/%q", user, pass)
				}
			}},
		{name: "port override", p: strict, h: httpsHost, o: lab.CommandOptions{Port: 15986},
			check: func(t *testing.T, _ string, _ bool, port, _, _ string) {
				if port != "15986" {
					t.Errorf("port = %s", port)
				}
			}},
		{name: "port out of range", p: strict, h: httpsHost, o: lab.CommandOptions{Port: 70000}, wantField: "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.p.Target(tt.h, "", tt.o)
			if tt.wantField != "" {
				var pe *lab.PolicyError
				if !errors.As(err, &pe) || !errors.Is(err, lab.ErrPolicy) || pe.Field != tt.wantField {
					t.Fatalf("err = %v, want PolicyError on %q", err, tt.wantField)
				}
				if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), tt.o.Password+"\x00") {
					t.Errorf("error leaks a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.check != nil {
				_, port, _ := strings.Cut(got.String(), ":")
				tt.check(t, got.Transport, got.UseSSL, port, got.User, got.Password)
			}
		})
	}
}
