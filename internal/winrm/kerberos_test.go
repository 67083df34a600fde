package winrm_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/kdctest"
	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

const krbPassword = "krb-Secret-1"

// krbLab is a real KDC on loopback and a labsim station that accepts
// SPNEGO/Kerberos for LabGatewaySvc@LABSIM.TEST.
type krbLab struct {
	kdc  *kdctest.KDC
	sim  *labsim.Sim
	host *labsim.Host
}

func startKrbLab(t *testing.T) *krbLab {
	t.Helper()
	k := kdctest.Start(t)
	k.AddUser(t, labsim.DefaultUser, krbPassword)
	k.AddUser(t, "intruder", krbPassword)
	kt := k.AddService(t, "HTTP/127.0.0.1")
	sim := startSim(t, labsim.HostOptions{Name: "lab-ws-01",
		Kerberos: &labsim.KerberosOptions{Keytab: kt, ServicePrincipal: "HTTP/127.0.0.1", Realm: k.Realm}})
	return &krbLab{kdc: k, sim: sim, host: sim.Host("lab-ws-01")}
}

func (l *krbLab) target(user, password string) winrm.Target {
	return winrm.Target{Address: "127.0.0.1", Port: l.host.HTTPSPort(), UseSSL: true,
		Transport: winrm.TransportKerberos, User: user + "@" + l.kdc.Realm, Password: password,
		CACertPEM: l.sim.CACertPEM()}
}

func TestKerberos_RunOverHTTPS(t *testing.T) {
	l := startKrbLab(t)
	c := newClient(winrm.Config{Krb5Conf: l.kdc.Krb5Conf})
	defer c.Close()
	start := time.Now()
	res, err := runLabStation(context.Background(), c, l.target(labsim.DefaultUser, krbPassword), "status", nil)
	if err != nil {
		t.Fatalf("run over HTTPS Kerberos: %v", err)
	}
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "Ready: true") {
		t.Fatalf("exit %d, stdout %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	t.Logf("status over Kerberos in %v", time.Since(start))
	// The realm in lower case is the same principal.
	tgt := l.target(labsim.DefaultUser, krbPassword)
	tgt.User = labsim.DefaultUser + "@" + strings.ToLower(l.kdc.Realm)
	if _, err := c.Run(context.Background(), tgt, "hostname", winrm.RunOptions{}); err != nil {
		t.Fatalf("lower-case realm: %v", err)
	}
}

func TestKerberos_Refused(t *testing.T) {
	l := startKrbLab(t)
	c := newClient(winrm.Config{Krb5Conf: l.kdc.Krb5Conf})
	defer c.Close()
	for _, tc := range []struct{ name, user, password string }{
		{"wrong password", labsim.DefaultUser, "not-the-" + krbPassword},
		{"unknown principal", "nobody", krbPassword},
		// A valid ticket, but not for the station's user: labsim answers 401.
		{"other principal", "intruder", krbPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Run(context.Background(), l.target(tc.user, tc.password), "hostname", winrm.RunOptions{})
			if !errors.Is(err, winrm.ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
			mustNotLeak(t, err, tc.password)
			t.Logf("%v", err)
		})
	}
	if n := l.host.Commands(); len(n) != 0 {
		t.Errorf("%d commands ran without valid credentials", len(n))
	}
}

// writeKrb5Conf points a client at kdc (host:port) for the test realm.
func writeKrb5Conf(t *testing.T, kdc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "krb5.conf")
	text := "[libdefaults]\n default_realm = " + kdctest.Realm + "\n dns_lookup_kdc = false\n dns_lookup_realm = false\n udp_preference_limit = 1\n" +
		"[realms]\n " + kdctest.Realm + " = {\n  kdc = " + kdc + "\n }\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// hungKDC accepts TCP connections and never answers until stop (or the
// test's end) closes them.
func hungKDC(t *testing.T) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = ln.Close()
			<-done
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				_ = c.Close()
			}
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

func TestKerberos_KDCDownOrHung(t *testing.T) {
	l := startKrbLab(t)
	tgt := l.target(labsim.DefaultUser, krbPassword)

	t.Run("down", func(t *testing.T) {
		// Nothing listens on the KDC's port any more.
		c := newClient(winrm.Config{Krb5Conf: writeKrb5Conf(t, l.kdc.Addr)})
		defer c.Close()
		l.kdc.Stop()
		start := time.Now()
		_, err := c.Run(context.Background(), tgt, "hostname", winrm.RunOptions{})
		d := time.Since(start)
		if !errors.Is(err, winrm.ErrKerberos) || errors.Is(err, winrm.ErrUnreachable) {
			t.Fatalf("err = %v, want ErrKerberos (and not ErrUnreachable: the station is up)", err)
		}
		mustNotLeak(t, err, krbPassword)
		if d > 2*time.Second {
			t.Errorf("took %v with the KDC refusing connections", d)
		}
		t.Logf("%v after %v", err, d)
	})

	t.Run("hung, command time limit", func(t *testing.T) {
		kdc, stop := hungKDC(t)
		c := newClient(winrm.Config{Krb5Conf: writeKrb5Conf(t, kdc), OperationTimeout: 500 * time.Millisecond,
			CommandTimeout: 700 * time.Millisecond})
		start := time.Now()
		_, err := c.Run(context.Background(), tgt, "hostname", winrm.RunOptions{})
		d := time.Since(start)
		if !errors.Is(err, winrm.ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
		if d > 1500*time.Millisecond {
			t.Errorf("returned after %v, want about the 700ms command limit", d)
		}
		t.Logf("%v after %v", err, d)
		// Close waits for the abandoned KDC exchange, which gokrb5 ends
		// itself (its 5 s I/O deadline) or, here, the KDC closing.
		stop()
		_ = c.Close()
	})

	t.Run("hung, cancelled", func(t *testing.T) {
		kdc, stop := hungKDC(t)
		c := newClient(winrm.Config{Krb5Conf: writeKrb5Conf(t, kdc), OperationTimeout: 30 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.Run(ctx, tgt, "hostname", winrm.RunOptions{})
		d := time.Since(start)
		if !errors.Is(err, winrm.ErrCanceled) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want ErrCanceled", err)
		}
		if d > time.Second {
			t.Errorf("returned after %v, want at once after the 300ms cancel", d)
		}
		t.Logf("%v after %v", err, d)
		stop()
		_ = c.Close()
	})
}

func TestKerberos_CancelMidCommand(t *testing.T) {
	l := startKrbLab(t)
	l.host.SetFaults(labsim.Faults{Hang: true})
	c := newClient(winrm.Config{Krb5Conf: l.kdc.Krb5Conf, OperationTimeout: 30 * time.Second})
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan time.Time, 1)
	go func() {
		time.Sleep(500 * time.Millisecond)
		cancelled <- time.Now()
		cancel()
	}()
	_, err := runLabStation(ctx, c, l.target(labsim.DefaultUser, krbPassword), "status", nil)
	at := <-cancelled
	if d := time.Since(at); d > 2*time.Second {
		t.Errorf("returned %v after cancel, want at once", d)
	} else {
		t.Logf("returned %v after cancel", d)
	}
	if !errors.Is(err, winrm.ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want ErrCanceled wrapping context.Canceled", err)
	}
	if len(l.host.Commands()) == 0 {
		t.Errorf("the command never reached the station: cancellation was not mid-call")
	}
}

// A station that cannot prove it holds the service key (no or a forged
// AP-REP), or that offers only Basic, gets no SOAP beyond the first
// authenticated request and never a password.
func TestKerberos_ImpostorStation(t *testing.T) {
	k := kdctest.Start(t)
	k.AddUser(t, labsim.DefaultUser, krbPassword)
	k.AddService(t, "HTTP/127.0.0.1")
	soapOK := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "<s:Envelope/>")
	}
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
		want    error
	}{
		{"accepts without AP-REP", func(w http.ResponseWriter, r *http.Request) { soapOK(w) }, winrm.ErrUnauthorized},
		{"forged AP-REP", func(w http.ResponseWriter, r *http.Request) {
			// An accept-completed NegTokenResp with no AP-REP inside.
			w.Header().Set("WWW-Authenticate", "Negotiate oRQwEqADCgEAoQsGCSqGSIb3EgECAg==")
			soapOK(w)
		}, winrm.ErrUnauthorized},
		{"basic only", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Basic realm="WSMAN"`)
			w.WriteHeader(http.StatusUnauthorized)
		}, winrm.ErrAuthMethod},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeStation(t, true, tc.handler)
			tg := f.target(winrm.TransportKerberos)
			tg.User, tg.Password = labsim.DefaultUser+"@"+k.Realm, krbPassword
			c := newClient(winrm.Config{Krb5Conf: k.Krb5Conf})
			defer c.Close()
			_, err := c.Run(context.Background(), tg, "hostname", winrm.RunOptions{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			mustNotLeak(t, err, krbPassword)
			authz, _ := f.seen()
			if len(authz) != 1 || !strings.HasPrefix(authz[0], "Negotiate ") {
				t.Errorf("requests' Authorization = %q, want one Negotiate", authz)
			}
		})
	}
}
