package labsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"
)

// The Lab Station service's local health endpoint: plain HTTP on the LAN,
// as on a real station (no TLS, no authentication), answering these paths.
var healthPaths = []string{"/labstation/health", "/health"}

// HealthPort is the port on 127.0.0.1 of the Lab Station health endpoint
// (GET /labstation/health and /health). It answers while the host is
// awake, unless Faults.HealthOff.
func (h *Host) HealthPort() int { return h.healthPort }

// openHealthLocked listens on the health port (chosen at the first open,
// as the WinRM ports) and serves the endpoint.
func (h *Host) openHealthLocked() error {
	if h.health != nil {
		return nil
	}
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", h.healthPort))
	if err != nil {
		return fmt.Errorf("health port %d: %w", h.healthPort, err)
	}
	if h.healthPort == 0 {
		h.healthPort = ln.Addr().(*net.TCPAddr).Port
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(h.serveHealth),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	h.health = srv
	h.sim.wg.Add(1)
	go func() {
		defer h.sim.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			h.sim.log.Error("labsim health serve", "host", h.name, "err", err)
		}
	}()
	return nil
}

// stopHealthLocked closes the endpoint: its port refuses.
func (h *Host) stopHealthLocked() {
	if h.health != nil {
		_ = h.health.Close()
		h.health = nil
	}
}

func (h *Host) serveHealth(w http.ResponseWriter, r *http.Request) {
	known := false
	for _, p := range healthPaths {
		known = known || r.URL.Path == p
	}
	switch {
	case !known:
		http.NotFound(w, r)
		return
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h.mu.Lock()
	if h.asleep || h.closed || h.health == nil {
		h.mu.Unlock()
		hijackClose(w)
		return
	}
	body := h.healthLocked()
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(body)
}

// healthLocked is the endpoint's answer: the service, its version and
// host, and the heartbeat's status and wake parts (so that a discovery
// probe can suggest the MAC to wake).
func (h *Host) healthLocked() []byte {
	var hb map[string]any
	_ = json.Unmarshal(h.heartbeatLocked(), &hb)
	doc := map[string]any{
		"service":   "LabStation",
		"state":     "ok",
		"version":   hb["version"],
		"host":      h.computerName(),
		"timestamp": h.sim.now().UTC().Format(time.RFC3339),
		"status":    hb["status"],
		"wake":      hb["wake"],
	}
	b, _ := json.Marshal(doc)
	return append(b, '\n')
}

// nicPowerLocked is the heartbeat's wake.nicPower: the station's one
// wired adapter, as Get-NetAdapter and the service's WoL audit report it
// (the MAC in Windows' AA-BB-CC-DD-EE-FF form).
func (h *Host) nicPowerLocked() []any {
	return []any{map[string]any{
		"name":                 "Ethernet",
		"interfaceDescription": "Intel(R) Ethernet Connection I219-LM",
		"macAddress":           strings.ToUpper(strings.ReplaceAll(h.mac, ":", "-")),
		"status":               "Up",
		"wolReady":             true,
		"wakeArmed":            true,
	}}
}
