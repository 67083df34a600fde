package labsim_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	bntlm "github.com/bodgit/ntlmssp"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

// cbtHandshake authenticates one HTTPS connection with NTLM, putting
// bindings(leaf certificate) in the AUTHENTICATE message, and returns the
// status of that last round (200: accepted, 401: refused).
func cbtHandshake(t *testing.T, sim *labsim.Sim, h *labsim.Host, bindings func(*x509.Certificate) *bntlm.ChannelBindings) int {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sim.CACertPEM())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	nc, err := bntlm.NewClient(bntlm.SetUserInfo(h.User(), h.Password()), bntlm.SetVersion(bntlm.DefaultVersion()))
	if err != nil {
		t.Fatal(err)
	}
	post := func(token []byte) *http.Response {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost,
			fmt.Sprintf("https://127.0.0.1:%d/wsman", h.HTTPSPort()), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Negotiate "+base64.StdEncoding.EncodeToString(token))
		req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp
	}
	neg, err := nc.Authenticate(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := post(neg)
	var challenge []byte
	for _, v := range resp.Header.Values("Www-Authenticate") {
		if b64, ok := strings.CutPrefix(v, "Negotiate "); ok {
			challenge, _ = base64.StdEncoding.DecodeString(b64)
		}
	}
	if resp.StatusCode != http.StatusUnauthorized || challenge == nil || resp.TLS == nil {
		t.Fatalf("negotiate: HTTP %d, no challenge", resp.StatusCode)
	}
	auth, err := nc.Authenticate(challenge, bindings(resp.TLS.PeerCertificates[0]))
	if err != nil {
		t.Fatal(err)
	}
	return post(auth).StatusCode
}

// endPoint is the RFC 5929 tls-server-end-point binding of cert (labsim's
// certificates are signed with ECDSA-SHA256).
func endPoint(cert *x509.Certificate) *bntlm.ChannelBindings {
	sum := sha256.Sum256(cert.Raw)
	return &bntlm.ChannelBindings{ApplicationData: append([]byte(bntlm.TLSServerEndPoint+":"), sum[:]...)}
}

func TestCBT_Modes(t *testing.T) {
	sim, err := labsim.Start(context.Background(), labsim.Options{Hosts: []labsim.HostOptions{{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	h := sim.Hosts()[0]
	bindings := map[string]func(*x509.Certificate) *bntlm.ChannelBindings{
		"right":   endPoint,
		"missing": func(*x509.Certificate) *bntlm.ChannelBindings { return nil },
		"wrong": func(*x509.Certificate) *bntlm.ChannelBindings {
			return &bntlm.ChannelBindings{ApplicationData: []byte(bntlm.TLSServerEndPoint + ":" + strings.Repeat("x", 32))}
		},
		"other certificate": func(*x509.Certificate) *bntlm.ChannelBindings {
			ca, _ := x509.ParseCertificate(pemBlock(t, sim.CACertPEM()))
			return endPoint(ca)
		},
	}
	want := map[labsim.CBTMode]map[string]int{
		labsim.CBTStrict:  {"right": 200, "missing": 401, "wrong": 401, "other certificate": 401},
		labsim.CBTRelaxed: {"right": 200, "missing": 200, "wrong": 401, "other certificate": 401},
		labsim.CBTNone:    {"right": 200, "missing": 200, "wrong": 200, "other certificate": 200},
	}
	for mode, cases := range want {
		h.SetCBT(mode)
		for name, status := range cases {
			if got := cbtHandshake(t, sim, h, bindings[name]); got != status {
				t.Errorf("CBT mode %d, binding %s: HTTP %d, want %d", mode, name, got, status)
			}
		}
	}
}

// The default (HostOptions.CBT zero) is Strict.
func TestCBT_DefaultStrict(t *testing.T) {
	sim, err := labsim.Start(context.Background(), labsim.Options{Hosts: []labsim.HostOptions{{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	h := sim.Hosts()[0]
	none := func(*x509.Certificate) *bntlm.ChannelBindings { return nil }
	if got := cbtHandshake(t, sim, h, none); got != http.StatusUnauthorized {
		t.Errorf("no binding on a default host: HTTP %d, want 401", got)
	}
	if got := cbtHandshake(t, sim, h, endPoint); got != http.StatusOK {
		t.Errorf("right binding on a default host: HTTP %d, want 200", got)
	}
}

func pemBlock(t *testing.T, b []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("no PEM block")
	}
	return block.Bytes
}

// Basic is off unless HostOptions.AllowBasic, as on Windows, and is then
// not offered either.
func TestBasic_OffByDefault(t *testing.T) {
	sim, err := labsim.Start(context.Background(), labsim.Options{Hosts: []labsim.HostOptions{{Name: "off"}, {Name: "on", AllowBasic: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sim.CACertPEM())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	for name, want := range map[string]int{"off": 401, "on": 200} {
		h := sim.Host(name)
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("https://127.0.0.1:%d/wsman", h.HTTPSPort()), nil)
		req.SetBasicAuth(h.User(), h.Password())
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		offered := strings.Contains(strings.Join(resp.Header.Values("Www-Authenticate"), " "), "Basic")
		if resp.StatusCode != want || (want == 401 && offered) {
			t.Errorf("%s: HTTP %d, Basic offered %v; want %d", name, resp.StatusCode, offered, want)
		}
	}
}
