package winrm_test

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/winrm"
)

// fakeStation is a plain HTTP(S) server standing in for a misbehaving
// station; it records what reached it.
type fakeStation struct {
	srv     *httptest.Server
	mu      sync.Mutex
	authz   []string
	bodies  []string
	handler func(w http.ResponseWriter, r *http.Request)
}

func newFakeStation(t *testing.T, tls bool, h func(w http.ResponseWriter, r *http.Request)) *fakeStation {
	f := &fakeStation{handler: h}
	hf := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.authz = append(f.authz, r.Header.Get("Authorization"))
		f.bodies = append(f.bodies, string(b))
		f.mu.Unlock()
		f.handler(w, r)
	})
	if tls {
		f.srv = httptest.NewTLSServer(hf)
	} else {
		f.srv = httptest.NewServer(hf)
	}
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeStation) target(tr string) winrm.Target {
	host, port, _ := net.SplitHostPort(f.srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	t := winrm.Target{Address: host, Port: p, UseSSL: f.srv.TLS != nil, Transport: tr, User: "LabGatewaySvc", Password: "fake-secret-pw"}
	if f.srv.TLS != nil {
		t.CACertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	}
	return t
}

func (f *fakeStation) seen() (authz, bodies []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.authz...), append([]string(nil), f.bodies...)
}

// The encryption transport must never fall back to clear text: a station
// that "accepts" without NTLM, or offers only Basic, gets nothing.
func TestEncryption_NoFallback(t *testing.T) {
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
		want    error
	}{
		{"no authentication at all", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
			w.WriteHeader(http.StatusOK)
		}, winrm.ErrEncryption},
		{"basic only", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Basic realm="WSMAN"`)
			w.WriteHeader(http.StatusUnauthorized)
		}, winrm.ErrAuthMethod},
		{"server error", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
		}, winrm.ErrEncryption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeStation(t, false, tt.handler)
			_, err := newClient(winrm.Config{}).Run(context.Background(), f.target(winrm.TransportNTLM), "LabStation.exe status", winrm.RunOptions{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			authz, bodies := f.seen()
			for i := range bodies {
				if bodies[i] != "" {
					t.Errorf("request %d carried a clear-text body %q", i, bodies[i])
				}
				if strings.HasPrefix(authz[i], "Basic") {
					t.Errorf("request %d carried Basic credentials", i)
				}
			}
			mustNotLeak(t, err, "fake-secret-pw")
		})
	}
}

// NTLM over HTTPS must not turn into Basic when the station offers only
// Basic (go-ntlmssp's Negotiator would send the Basic header).
func TestNTLM_NoBasicDowngrade(t *testing.T) {
	f := newFakeStation(t, true, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="WSMAN"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	_, err := newClient(winrm.Config{}).Run(context.Background(), f.target(winrm.TransportNTLM), "LabStation.exe status", winrm.RunOptions{})
	if !errors.Is(err, winrm.ErrAuthMethod) {
		t.Fatalf("err = %v, want ErrAuthMethod", err)
	}
	authz, _ := f.seen()
	for i, a := range authz {
		if strings.HasPrefix(a, "Basic") {
			t.Errorf("request %d carried Basic credentials", i)
		}
	}
}

func TestRun_GarbageAnswer(t *testing.T) {
	f := newFakeStation(t, true, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>proxy says hi</html>")
	})
	_, err := newClient(winrm.Config{}).Run(context.Background(), f.target(winrm.TransportBasic), "LabStation.exe status", winrm.RunOptions{})
	if !errors.Is(err, winrm.ErrProtocol) {
		t.Fatalf("err = %v, want ErrProtocol", err)
	}
}

// At most MaxPerHost calls reach one address:port at once.
func TestRun_PerHostLimit(t *testing.T) {
	var cur, peak atomic.Int32
	f := newFakeStation(t, true, func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		defer cur.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
		w.Header().Set("WWW-Authenticate", `Basic realm="WSMAN"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	c := newClient(winrm.Config{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Run(context.Background(), f.target(winrm.TransportBasic), "LabStation.exe status", winrm.RunOptions{})
			if !errors.Is(err, winrm.ErrUnauthorized) {
				t.Errorf("err = %v, want ErrUnauthorized", err)
			}
		}()
	}
	wg.Wait()
	if got, want := peak.Load(), int32(winrm.DefaultMaxPerHost); got != want {
		t.Errorf("peak concurrent requests = %d, want %d", got, want)
	}
}

// Waiting for a slot honours the context.
func TestRun_SlotWaitCancelled(t *testing.T) {
	release := make(chan struct{})
	f := newFakeStation(t, true, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
	defer close(release)
	c := winrm.New(winrm.Config{MaxPerHost: 1})
	busy, stopBusy := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.Run(busy, f.target(winrm.TransportBasic), "x", winrm.RunOptions{})
	}()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Run(ctx, f.target(winrm.TransportBasic), "x", winrm.RunOptions{})
	if !errors.Is(err, winrm.ErrTimeout) {
		t.Errorf("err = %v, want ErrTimeout while waiting for a slot", err)
	}
	stopBusy()
	<-done
}

// Kerberos against a real KDC is in kerberos_test.go; a missing krb5.conf is a configuration error before anything is sent.
func TestKerberos_NeedsConfig(t *testing.T) {
	f := newFakeStation(t, true, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	})
	tg := f.target(winrm.TransportKerberos)
	tg.User = "LabGatewaySvc@LAB.EXAMPLE"
	c := winrm.New(winrm.Config{Krb5Conf: t.TempDir() + "/missing-krb5.conf"})
	_, err := c.Run(context.Background(), tg, "LabStation.exe status", winrm.RunOptions{})
	if !errors.Is(err, winrm.ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
	if authz, _ := f.seen(); len(authz) != 0 {
		t.Errorf("%d requests sent", len(authz))
	}
}

// One NTLM handshake serves HTTPS and sealed HTTP (issue 14): a station
// whose CHALLENGE is not an NTLM CHALLENGE fails the same way, with
// ErrProtocol, on both, and nothing but the NEGOTIATE reaches it.
func TestNTLM_BadChallengeSameKindOnBothTransports(t *testing.T) {
	challenges := map[string]string{
		"not NTLMSSP":    base64.StdEncoding.EncodeToString([]byte("this is no NTLM challenge at all, just text")),
		"truncated":      base64.StdEncoding.EncodeToString([]byte("NTLMSSP\x00\x02\x00\x00\x00")),
		"wrong msg type": base64.StdEncoding.EncodeToString(append([]byte("NTLMSSP\x00\x03\x00\x00\x00"), make([]byte, 40)...)),
	}
	for _, https := range []bool{true, false} {
		for name, chal := range challenges {
			t.Run(fmt.Sprintf("https=%v/%s", https, name), func(t *testing.T) {
				f := newFakeStation(t, https, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("WWW-Authenticate", "Negotiate "+chal)
					w.WriteHeader(http.StatusUnauthorized)
				})
				_, err := newClient(winrm.Config{}).Run(context.Background(), f.target(winrm.TransportNTLM), "LabStation.exe status", winrm.RunOptions{})
				if !errors.Is(err, winrm.ErrProtocol) {
					t.Fatalf("err = %v, want ErrProtocol", err)
				}
				if authz, _ := f.seen(); len(authz) != 1 {
					t.Errorf("%d requests reached the station, want only the NEGOTIATE", len(authz))
				}
			})
		}
	}
}
