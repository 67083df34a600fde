package labsim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/discovery"
	"github.com/ops-worker/ops-worker/internal/labsim"
)

// A station's health endpoint and WinRM port as discovery sees them: every
// discovery status is reachable through the faults and sleep.
func TestHealth_DiscoveryStatuses(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{SleepMode: labsim.SleepRefuse})
	h := sim.Hosts()[0]
	p := &discovery.Prober{Config: discovery.Config{Timeout: 500 * time.Millisecond,
		WinRMPort: h.HTTPSPort(), LabStationPorts: []int{h.HealthPort()}}}
	probe := func(want string) discovery.Result {
		t.Helper()
		res, err := p.Probe(context.Background(), "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if got := discovery.Status(res, false); got != want {
			t.Fatalf("status %q, want %q: %+v", got, want, res)
		}
		return res
	}
	res := probe(discovery.StatusDetected)
	m := res.LabStationHTTP.SuggestedMAC
	if m == nil || m.MAC != h.MAC() || !m.Adapter.WOLReady || m.Adapter.Status != "Up" {
		t.Errorf("suggested MAC %+v, want %s", m, h.MAC())
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d/labstation/health", h.HealthPort()); res.LabStationHTTP.URL != want || res.LabStationHTTP.Service != "LabStation" {
		t.Errorf("%+v", res.LabStationHTTP)
	}

	h.SetFaults(labsim.Faults{HealthOff: true})
	probe(discovery.StatusWinRMReachable)
	h.SetFaults(labsim.Faults{WinRMOff: true})
	probe(discovery.StatusDetectedWithoutWinRM)
	h.SetFaults(labsim.Faults{WinRMOff: true, HealthOff: true})
	probe(discovery.StatusHostResolves)
	h.SetFaults(labsim.Faults{})
	probe(discovery.StatusDetected)

	h.Sleep()
	probe(discovery.StatusHostResolves) // nothing answers while asleep
	h.SetFaults(labsim.Faults{WinRMOff: true})
	h.Wake()
	probe(discovery.StatusDetectedWithoutWinRM) // a boot keeps the faults
	h.SetFaults(labsim.Faults{})
	probe(discovery.StatusDetected)
}

func TestHealth_Endpoint(t *testing.T) {
	sim := mustStart(t, labsim.HostOptions{}, labsim.HostOptions{HealthPort: 0})
	h := sim.Hosts()[1]
	if h.HealthPort() == 0 || h.HealthPort() == sim.Hosts()[0].HealthPort() {
		t.Fatalf("health ports %d, %d", sim.Hosts()[0].HealthPort(), h.HealthPort())
	}
	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", h.HealthPort(), path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, path := range []string{"/labstation/health", "/health"} {
		code, body := get(path)
		var doc struct {
			Service, State, Version, Host string
			Status                        struct {
				Wake struct {
					NICPower []map[string]any `json:"nicPower"`
				}
			}
		}
		if err := json.Unmarshal(body, &doc); err != nil || code != 200 {
			t.Fatalf("%s: %d %v %s", path, code, err, body)
		}
		if doc.Service != "LabStation" || doc.State != "ok" || doc.Version == "" || doc.Host != "LAB-WS-02" {
			t.Errorf("%s: %+v", path, doc)
		}
		if n := doc.Status.Wake.NICPower; len(n) != 1 || n[0]["macAddress"] != "02-00-00-00-00-02" || n[0]["status"] != "Up" {
			t.Errorf("%s: nicPower %v", path, n)
		}
	}
	if code, _ := get("/other"); code != http.StatusNotFound {
		t.Errorf("/other: %d", code)
	}
}
