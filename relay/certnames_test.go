package relay_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/relay"
)

// writeCert writes a self-signed certificate for dns and ips, and its key.
func writeCert(t *testing.T, dns []string, ips []net.IP) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: dns, IPAddresses: ips}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certPath, keyPath
}

// Without RELAY_ID, a TLS relay answers to its certificate's names (the
// ones a worker can reach it by), wildcards aside; a certificate of
// wildcards only needs RELAY_ID.
func TestNew_RelayIDFromCertificate(t *testing.T) {
	cat := labsimtest.WriteHostsFile(t, `{"hosts":[{"name":"lab-ws-01","address":"10.1.2.11","labs":["1"]}]}`)
	subnets, _ := relay.ParseSubnets("10.1.2.0/24")
	build := func(cert, key string, ids []string) (*relay.Server, error) {
		s, client, err := relay.New(relay.Config{Listen: "0.0.0.0:8740", TLSCert: cert, TLSKey: key, Secrets: []string{secretNew},
			HostsPath: cat, Subnets: subnets, Relays: ids}, slog.New(slog.DiscardHandler))
		if client != nil {
			client.Close()
		}
		return s, err
	}
	cert, key := writeCert(t, []string{"Relay-A.lab.example", "*.lab.example"}, []net.IP{net.ParseIP("10.1.2.5")})
	s, err := build(cert, key, nil)
	if err != nil || !slices.Equal(s.Verifier.Relays, []string{"relay-a.lab.example", "10.1.2.5"}) {
		t.Errorf("names from the certificate: %v, %v", err, s)
	}
	if s, err := build(cert, key, []string{"relay.example"}); err != nil || !slices.Equal(s.Verifier.Relays, []string{"relay.example"}) {
		t.Errorf("RELAY_ID wins: %v", err)
	}
	wild, wkey := writeCert(t, []string{"*.lab.example"}, nil)
	if _, err := build(wild, wkey, nil); err == nil || !strings.Contains(err.Error(), "RELAY_ID") {
		t.Errorf("wildcard-only certificate: %v, want an error naming RELAY_ID", err)
	}
	if _, err := build(wild, wkey, []string{"relay-b.lab.example"}); err != nil {
		t.Errorf("wildcard certificate with RELAY_ID: %v", err)
	}
}
