package labsim_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/ops-worker/ops-worker/internal/kdctest"
	"github.com/ops-worker/ops-worker/internal/labsim"
)

// negotiateHeader is what a stock gokrb5 client sends for user.
func negotiateHeader(t *testing.T, k *kdctest.KDC, user, password string) string {
	t.Helper()
	cfg, err := krbconfig.Load(k.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	cl := krbclient.NewWithPassword(user, k.Realm, password, cfg, krbclient.DisablePAFXFAST(true))
	defer cl.Destroy()
	req, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1/wsman", nil)
	if err := spnego.SetSPNEGOHeader(cl, req, "HTTP/127.0.0.1"); err != nil {
		t.Fatalf("SPNEGO header for %s: %v", user, err)
	}
	return req.Header.Get("Authorization")
}

func TestKerberos_LabsimAcceptsSPNEGO(t *testing.T) {
	k := kdctest.Start(t)
	k.AddUser(t, labsim.DefaultUser, "krb-pw")
	k.AddUser(t, "someone-else", "krb-pw")
	kt := k.AddService(t, "HTTP/127.0.0.1")
	krb := &labsim.KerberosOptions{Keytab: kt, ServicePrincipal: "HTTP/127.0.0.1", Realm: k.Realm}
	sim := mustStart(t, labsim.HostOptions{Name: "krb", Kerberos: krb}, labsim.HostOptions{Name: "ntlm-only"})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sim.CACertPEM())

	post := func(t *testing.T, c *http.Client, h *labsim.Host, authz string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost,
			"https://127.0.0.1:"+strconv.Itoa(h.HTTPSPort())+"/wsman", nil)
		req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp
	}
	newHTTP := func(t *testing.T) *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, MaxConnsPerHost: 1}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}

	t.Run("host user", func(t *testing.T) {
		c := newHTTP(t)
		resp := post(t, c, sim.Host("krb"), negotiateHeader(t, k, labsim.DefaultUser, "krb-pw"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d (%s)", resp.StatusCode, resp.Header.Get("X-Labsim-Reason"))
		}
		scheme, tok, _ := strings.Cut(resp.Header.Get("WWW-Authenticate"), " ")
		raw, err := base64.StdEncoding.DecodeString(tok)
		var nt spnego.NegTokenResp
		if scheme != "Negotiate" || err != nil || nt.Unmarshal(raw) != nil || len(nt.ResponseToken) == 0 {
			t.Errorf("no mutual-authentication token in %q", resp.Header.Get("WWW-Authenticate"))
		}
		// The connection stays authenticated, as with NTLM on HTTPS.
		if resp := post(t, c, sim.Host("krb"), ""); resp.StatusCode != http.StatusOK {
			t.Errorf("second request on the connection: status %d", resp.StatusCode)
		}
	})
	for _, tc := range []struct {
		name, host, authz string
	}{
		{"other principal", "krb", negotiateHeader(t, k, "someone-else", "krb-pw")},
		{"garbage token", "krb", "Negotiate " + base64.StdEncoding.EncodeToString([]byte{0x60, 0x03, 0x06, 0x01, 0x00})},
		{"host without keytab", "ntlm-only", negotiateHeader(t, k, labsim.DefaultUser, "krb-pw")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, newHTTP(t), sim.Host(tc.host), tc.authz)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			t.Logf("refused: %s", resp.Header.Get("X-Labsim-Reason"))
		})
	}
}

func TestKerberos_LabsimBadKeytab(t *testing.T) {
	_, err := labsim.Start(context.Background(), labsim.Options{Hosts: []labsim.HostOptions{{Name: "krb",
		Kerberos: &labsim.KerberosOptions{Keytab: t.TempDir() + "/missing.keytab", ServicePrincipal: "HTTP/127.0.0.1", Realm: "R"}}}})
	if err == nil || !strings.Contains(err.Error(), "krb") || !strings.Contains(err.Error(), "keytab") {
		t.Fatalf("err = %v, want an error naming the host and the keytab", err)
	}
}
