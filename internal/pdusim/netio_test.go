package pdusim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func startNetio(t *testing.T, cfg NetioConfig) (*Device, *NetioServer) {
	t.Helper()
	dev, err := NewDevice(DeviceConfig{Outlets: 2, Names: []string{"PLC", "HMI"}, InitiallyOn: []int{2}, RebootOff: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	cfg.Device = dev
	s, err := StartNetio(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return dev, s
}

func netioDo(t *testing.T, c *http.Client, method, url, body, user, pass string) (int, netioStatus) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st netioStatus
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, st
}

func TestNetioGetAndPost(t *testing.T) {
	dev, s := startNetio(t, NetioConfig{User: "netio", Password: "s3cret-pw", ReadOnlyUser: "ro", ReadOnlyPassword: "ro-pw-123"})
	c := &http.Client{Timeout: 5 * time.Second}
	code, st := netioDo(t, c, "GET", s.URL(), "", "netio", "s3cret-pw")
	if code != 200 || st.Agent.Model != "NETIO 4All" || st.Agent.NumOutputs != 2 || len(st.Outputs) != 2 ||
		st.Outputs[0].Name != "PLC" || st.Outputs[0].State != 0 || st.Outputs[1].State != 1 || st.Outputs[0].Action != NetioIgnore {
		t.Fatalf("GET %d %+v", code, st)
	}
	code, st = netioDo(t, c, "POST", s.URL(), `{"Outputs":[{"ID":1,"Action":1},{"ID":2,"Action":5}]}`, "netio", "s3cret-pw")
	if code != 200 || st.Outputs[0].State != 1 || st.Outputs[1].State != 1 {
		t.Fatalf("POST on %d %+v", code, st)
	}
	netioDo(t, c, "POST", s.URL(), `{"Outputs":[{"ID":2,"Action":4}]}`, "netio", "s3cret-pw")
	if o, _ := dev.Outlet(2); o.On {
		t.Fatal("toggle left outlet 2 on")
	}
	// Short off: off now, on again after RebootOff.
	netioDo(t, c, "POST", s.URL(), `{"Outputs":[{"ID":1,"Action":2}]}`, "netio", "s3cret-pw")
	if o, _ := dev.Outlet(1); o.On || !o.Pending {
		t.Fatalf("short off: %+v", o)
	}
	waitFor(t, func() bool { o, _ := dev.Outlet(1); return o.On && !o.Pending })
	recs := dev.Records()
	if len(recs) != 3 || recs[0].Action != ActionOn || recs[1].Action != ActionToggle || recs[2].Action != ActionReboot || recs[0].Protocol != "netio" || recs[0].User != "netio" {
		t.Fatalf("records %+v", recs)
	}

	for _, c2 := range []struct {
		name, method, body, user, pass string
		want                           int
	}{
		{"no credentials", "GET", "", "", "", 401},
		{"wrong password", "GET", "", "netio", "nope", 401},
		{"read-only GET", "GET", "", "ro", "ro-pw-123", 200},
		{"read-only POST", "POST", `{"Outputs":[{"ID":1,"Action":0}]}`, "ro", "ro-pw-123", 403},
		{"bad JSON", "POST", `{"Outputs":`, "netio", "s3cret-pw", 400},
		{"unknown output", "POST", `{"Outputs":[{"ID":1,"Action":0},{"ID":9,"Action":0}]}`, "netio", "s3cret-pw", 400},
		{"unknown action", "POST", `{"Outputs":[{"ID":1,"Action":7}]}`, "netio", "s3cret-pw", 400},
		{"missing action", "POST", `{"Outputs":[{"ID":1}]}`, "netio", "s3cret-pw", 400},
		{"method", "DELETE", "", "netio", "s3cret-pw", 405},
	} {
		t.Run(c2.name, func(t *testing.T) {
			if code, _ := netioDo(t, c, c2.method, s.URL(), c2.body, c2.user, c2.pass); code != c2.want {
				t.Fatalf("got %d want %d", code, c2.want)
			}
		})
	}
	if n := len(dev.Records()); n != 3 {
		t.Fatalf("refused requests recorded: %d records", n)
	}
}

func TestNetioHTTPSAndFaults(t *testing.T) {
	dev, s := startNetio(t, NetioConfig{TLS: true})
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
		t.Fatal(s.URL())
	}
	// Without the CA: refused.
	if _, err := (&http.Client{Timeout: 2 * time.Second}).Get(s.URL()); err == nil {
		t.Fatal("HTTPS accepted without the simulator's CA")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CACertPEM()) {
		t.Fatal("CA PEM")
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if code, _ := netioDo(t, c, "GET", s.URL(), "", "", ""); code != 200 {
		t.Fatal(code)
	}

	dev.SetFault(FaultWrongReadBack)
	_, st := netioDo(t, c, "POST", s.URL(), `{"Outputs":[{"ID":1,"Action":1}]}`, "", "")
	if o, _ := dev.Outlet(1); !o.On || st.Outputs[0].State != 0 {
		t.Fatalf("wrong read-back: real %+v reported %d", o, st.Outputs[0].State)
	}

	dev.SetFault(FaultTimeout)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL(), nil)
	if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout fault: %v", err)
	}

	dev.SetFault(FaultRefuse)
	if _, err := c.Get(s.URL()); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("refuse fault: %v", err)
	}
	dev.SetFault(FaultNone)
	if code, _ := netioDo(t, c, "GET", s.URL(), "", "", ""); code != 200 {
		t.Fatal(code)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
