package labsim_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/masterzen/winrm"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

// freePorts returns two free TCP ports and one free UDP port on 127.0.0.1,
// all distinct: each is held until all are found, then released.
func freePorts(t *testing.T) (httpsPort, httpPort, wakePort int) {
	t.Helper()
	var ports []int
	var closers []func() error
	for range 2 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
		closers = append(closers, ln.Close)
	}
	for {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, pc.Close)
		if p := pc.LocalAddr().(*net.UDPAddr).Port; p != ports[0] && p != ports[1] {
			ports = append(ports, p)
			break
		}
	}
	for _, c := range closers {
		_ = c()
	}
	return ports[0], ports[1], ports[2]
}

func TestFixedPorts_SleepWake(t *testing.T) {
	httpsPort, httpPort, wakePort := freePorts(t)
	sim := mustStart(t, labsim.HostOptions{Name: "lab-ws-01", HTTPSPort: httpsPort, HTTPPort: httpPort, WakePort: wakePort})
	h := sim.Hosts()[0]
	if got := [3]int{h.HTTPSPort(), h.HTTPPort(), h.WakePort()}; got != [3]int{httpsPort, httpPort, wakePort} {
		t.Fatalf("ports: got %v, want %v", got, [3]int{httpsPort, httpPort, wakePort})
	}

	// The endpoints name the fixed ports, not the host's accessors.
	httpsClient := func() *winrm.Client {
		ep := winrm.NewEndpoint("127.0.0.1", httpsPort, true, false, sim.CACertPEM(), nil, nil, 10*time.Second)
		params := winrm.NewParameters("PT20S", "en-US", 153600)
		params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
		c, err := winrm.NewClientWithParameters(ep, h.User(), h.Password(), params)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	httpClient := func() *winrm.Client {
		ep := winrm.NewEndpoint("127.0.0.1", httpPort, false, false, nil, nil, nil, 10*time.Second)
		params := winrm.NewParameters("PT20S", "en-US", 153600)
		params.TransportDecorator = func() winrm.Transporter {
			enc, err := winrm.NewEncryption("ntlm")
			if err != nil {
				t.Fatal(err)
			}
			return enc
		}
		c, err := winrm.NewClientWithParameters(ep, h.User(), h.Password(), params)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	check := func(t *testing.T) {
		t.Helper()
		// masterzen's encryption transport keeps its connections in
		// http.DefaultTransport. The ones from before the sleep froze, as
		// a sleeping Windows host's do, and the wake closed them: a
		// client finds that out on its next request, racing the close.
		// Start this check from new connections.
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		for name, c := range map[string]*winrm.Client{"https": httpsClient(), "http": httpClient()} {
			out, errOut, code, err := run(t, c, labStation+" status")
			if err != nil || code != 0 {
				t.Fatalf("%s: run: code %d err %v stderr %q", name, code, err, errOut)
			}
			if out == "" {
				t.Errorf("%s: stdout empty", name)
			}
		}
	}

	t.Run("awake", check)
	t.Run("after Sleep and Wake", func(t *testing.T) {
		h.Sleep()
		if !dialNoAnswer(httpsPort) || !dialNoAnswer(httpPort) {
			t.Fatal("asleep: fixed ports answer, want the dial to wait for its timeout")
		}
		h.Wake()
		check(t)
	})
	t.Run("after a magic packet on the wake port", func(t *testing.T) {
		h.Sleep()
		sendUDP(t, wakePort, magicPacket(t, h.MAC()))
		if !waitFor(t, 3*time.Second, func() bool { return !h.Asleep() }) {
			t.Fatal("host did not wake")
		}
		check(t)
	})
	if got := [3]int{h.HTTPSPort(), h.HTTPPort(), h.WakePort()}; got != [3]int{httpsPort, httpPort, wakePort} {
		t.Errorf("ports at the end: got %v, want %v", got, [3]int{httpsPort, httpPort, wakePort})
	}
}

func TestFixedPorts_InUse(t *testing.T) {
	for _, which := range []string{"HTTPS", "HTTP", "wake"} {
		t.Run(which, func(t *testing.T) {
			httpsPort, httpPort, wakePort := freePorts(t)
			var busy int
			switch which {
			case "HTTPS", "HTTP":
				busy = httpsPort
				if which == "HTTP" {
					busy = httpPort
				}
				ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", itoa(busy)))
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
			case "wake":
				busy = wakePort
				pc, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", itoa(busy)))
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
			}
			sim, err := labsim.Start(context.Background(), labsim.Options{Hosts: []labsim.HostOptions{
				{Name: "lab-ws-07", HTTPSPort: httpsPort, HTTPPort: httpPort, WakePort: wakePort},
			}})
			if err == nil {
				_ = sim.Close()
				t.Fatalf("Start with %s port %d in use: got no error", which, busy)
			}
			msg := err.Error()
			for _, want := range []string{"lab-ws-07", which + " port " + itoa(busy)} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q: want it to contain %q", msg, want)
				}
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("error %q: want errors.Is EADDRINUSE", msg)
			}
			// The ports Start did take are released again.
			for _, p := range []int{httpsPort, httpPort} {
				if p == busy {
					continue
				}
				ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", itoa(p)))
				if err != nil {
					t.Errorf("TCP port %d after the failed Start: %v", p, err)
					continue
				}
				_ = ln.Close()
			}
		})
	}

	t.Run("out of range", func(t *testing.T) {
		for _, p := range []int{-1, 65536} {
			sim, err := labsim.Start(context.Background(), labsim.Options{Hosts: []labsim.HostOptions{{Name: "lab-ws-08", HTTPPort: p}}})
			if err == nil {
				_ = sim.Close()
				t.Fatalf("HTTPPort %d: got no error", p)
			}
			if !strings.Contains(err.Error(), "lab-ws-08") || !strings.Contains(err.Error(), itoa(p)) {
				t.Errorf("HTTPPort %d: error %q should name the host and the port", p, err)
			}
		}
	})
}

// verifyServer does a TLS handshake with the host's HTTPS port, trusting
// only caPEM, and fails the test when verification fails.
func verifyServer(t *testing.T, port int, caPEM []byte) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA PEM: no certificate")
	}
	d := &tls.Dialer{Config: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", itoa(port)))
	if err != nil {
		t.Fatalf("TLS handshake trusting the given CA: %v", err)
	}
	_ = c.Close()
}

func TestCADir_KeepsCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca") // created by Start
	start := func() *labsim.Sim {
		t.Helper()
		sim, err := labsim.Start(context.Background(), labsim.Options{Hosts: []labsim.HostOptions{{}}, CADir: dir})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		return sim
	}

	sim1 := start()
	if got, want := sim1.CAFile(), filepath.Join(dir, "labsim-ca.pem"); got != want {
		t.Errorf("CAFile: got %s, want %s", got, want)
	}
	caPEM, err := os.ReadFile(sim1.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(caPEM, sim1.CACertPEM()) {
		t.Error("CA file differs from CACertPEM")
	}
	fi, err := os.Stat(filepath.Join(dir, "labsim-ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode: got %o, want 600", got)
	}
	if err := sim1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "labsim-ca.pem")); err != nil {
		t.Fatalf("CA file after Close: %v, want kept", err)
	}

	t.Run("second run serves a certificate from the same CA", func(t *testing.T) {
		sim2 := start()
		defer sim2.Close()
		verifyServer(t, sim2.Hosts()[0].HTTPSPort(), caPEM)
		if !bytes.Equal(sim2.CACertPEM(), caPEM) {
			t.Error("CACertPEM: changed between runs")
		}
	})

	t.Run("an unusable CA file is replaced", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "labsim-ca.pem"), []byte("not a certificate\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		sim3 := start()
		defer sim3.Close()
		newPEM, err := os.ReadFile(sim3.CAFile())
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(newPEM, caPEM) {
			t.Fatal("CA file: got the old CA, want a new one")
		}
		verifyServer(t, sim3.Hosts()[0].HTTPSPort(), newPEM)
	})
}

func TestCADir_Empty_RemovedOnClose(t *testing.T) {
	sim, err := labsim.Start(context.Background(), labsim.Options{Hosts: []labsim.HostOptions{{}}})
	if err != nil {
		t.Fatal(err)
	}
	caFile := sim.CAFile()
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	verifyServer(t, sim.Hosts()[0].HTTPSPort(), caPEM)
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(caFile)); !os.IsNotExist(err) {
		t.Errorf("temp dir after Close: %v, want removed", err)
	}
}
