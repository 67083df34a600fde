package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/relayclient"
)

const testSecret = "main-test-secret-0123456789abcdefghij"

func TestMain_RunPingClose(t *testing.T) {
	path := labsimtest.WriteHostsFile(t, `{"hosts":[{"name":"lab-ws-01","address":"10.1.2.11","mac":"02:00:00:00:00:01","labs":["1"]}]}`)
	env := map[string]string{"RELAY_SECRETS": testSecret + ",old-secret-0123456789abcdefghijklmn", "RELAY_SUBNETS": "10.1.2.0/24"}
	m := &Main{Getenv: func(k string) string { return env[k] }, LogOutput: io.Discard}
	if err := m.ParseFlags([]string{"-listen", "127.0.0.1:0", "-hosts", path}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := &relayclient.Client{URL: "http://" + m.Addr(), Secret: []byte(testSecret)}
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestMain_ParseFlagsRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"plain HTTP off loopback": {[]string{"-listen", "0.0.0.0:8740"}, map[string]string{"RELAY_SECRETS": testSecret, "RELAY_SUBNETS": "10.1.2.0/24"}, "loopback"},
		"no secret":               {nil, map[string]string{"RELAY_SUBNETS": "10.1.2.0/24"}, "RELAY_SECRETS"},
		"no subnets":              {nil, map[string]string{"RELAY_SECRETS": testSecret}, "RELAY_SUBNETS"},
		"bad subnet":              {[]string{"-subnets", "10.1.2.0/33"}, map[string]string{"RELAY_SECRETS": testSecret}, "subnet"},
	} {
		m := &Main{Getenv: func(k string) string { return tc.env[k] }}
		err := m.ParseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, tc.want)
		}
	}
}

func TestMain_TLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cat := filepath.Join(dir, "hosts.json")
	os.WriteFile(cat, []byte(`{"hosts":[{"name":"lab-ws-01","address":"10.1.2.11","labs":["1"]}]}`), 0o600)

	env := map[string]string{"RELAY_SECRETS": testSecret, "RELAY_SUBNETS": "10.1.2.0/24", "RELAY_TLS_CERT": certPath, "RELAY_TLS_KEY": keyPath}
	m := &Main{Getenv: func(k string) string { return env[k] }, LogOutput: io.Discard}
	if err := m.ParseFlags([]string{"-listen", "127.0.0.1:0", "-hosts", cat}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pool := x509.NewCertPool()
	pool.AddCert(must(x509.ParseCertificate(der)))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c := &relayclient.Client{URL: "https://" + m.Addr(), Secret: []byte(testSecret), HTTP: hc}
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("Ping over TLS: %v", err)
	}
	// Without trusting the certificate the relay is unreachable, not
	// spoken to in the clear.
	c.HTTP = nil
	if err := c.Ping(context.Background()); !errors.Is(err, lab.ErrRelayUnreachable) {
		t.Errorf("untrusted certificate: %v, want ErrRelayUnreachable", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
