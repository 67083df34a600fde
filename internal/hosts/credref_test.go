package hosts_test

import (
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/hosts"
)

// credential_ref: lower case, the address by default, and a given one of
// the characters a credential key may hold.
func TestParse_CredentialRef(t *testing.T) {
	for _, tt := range []struct {
		entry, want, err string
	}{
		{`"address": "PC-01.Lab.example"`, "pc-01.lab.example", ""},
		{`"address": "fe80::1"`, "fe80::1", ""},
		{`"address": "10.0.0.1", "credential_ref": " Lab-WS-01.Admin "`, "lab-ws-01.admin", ""},
		{`"address": "10.0.0.1", "credential_ref": "env:GUAC_REF"`, "from-env:1", ""},
		{`"address": "10.0.0.1", "credential_ref": "a b"`, "", `field credential_ref: "a b" is not a credential reference`},
		{`"address": "10.0.0.1", "credential_ref": "-x"`, "", "field credential_ref"},
		{`"address": "10.0.0.1", "credential_ref": "` + strings.Repeat("a", 129) + `"`, "", "longer than 128"},
	} {
		c, _, err := hosts.Parse([]byte(`{"hosts": [{"name": "h1", `+tt.entry+`}]}`), env(map[string]string{"GUAC_REF": "From-Env:1"}))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.entry, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.entry, err)
			continue
		}
		if h, _ := c.Get("h1"); h.CredentialRef != tt.want {
			t.Errorf("%s: credential_ref %q, want %q", tt.entry, h.CredentialRef, tt.want)
		}
	}
}

// NormalizeCredentialRef is the catalog's rule, exported for the credential
// store.
func TestNormalizeCredentialRef(t *testing.T) {
	for in, want := range map[string]string{"Lab-WS-01.Admin": "lab-ws-01.admin", " 10.0.0.5 ": "10.0.0.5", "a:b_c": "a:b_c", "fe80::1": "fe80::1"} {
		if got, err := hosts.NormalizeCredentialRef(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"": "is empty", "-x": "not a credential reference", "a b": "not a credential reference", "é": "not a credential", strings.Repeat("a", 129): "longer than 128"} {
		if got, err := hosts.NormalizeCredentialRef(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %q %v, want error %q", in, got, err, want)
		}
	}
}

// A reference with non-ASCII letters or Unicode spaces is refused, not
// folded into an ASCII one (U+0130 lower-cases to "i").
func TestNormalizeCredentialRef_NoUnicodeFolding(t *testing.T) {
	for _, in := range []string{"LAB-WS-01\u0130", "lab-ws-01\u2029", "\u2028lab", "ｌａｂ", "lab\u200b-ws"} {
		if got, err := hosts.NormalizeCredentialRef(in); err == nil {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
}
