package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/config"
)

// HealthcheckTimeout bounds one -healthcheck probe (the container's
// HEALTHCHECK gives it 5 s as well).
const HealthcheckTimeout = 4 * time.Second

// healthcheckURL is the /health URL of the server this configuration
// starts: -addr when given, else OPS_BIND:OPS_PORT, with an unspecified
// bind address (0.0.0.0, ::, empty) reached over loopback.
func healthcheckURL(addr string, cfg config.Config) (string, error) {
	host, port := cfg.Bind, strconv.Itoa(cfg.Port)
	if addr != "" {
		var err error
		if host, port, err = net.SplitHostPort(addr); err != nil {
			return "", fmt.Errorf("-addr %q: %w", addr, err)
		}
	}
	if port == "0" {
		return "", fmt.Errorf("-healthcheck cannot probe port 0 (a free port chosen at start)")
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/health", nil
}

// healthcheck is `ops-worker -healthcheck`: it GETs /health of the server
// that the same environment starts and reports 0 for a 200, else 1. It is
// the image's HEALTHCHECK (a scratch image has no shell and no curl). The
// answer (one line of JSON) goes to out, which the container engine keeps
// in its health log.
func (m *Main) healthcheck(ctx context.Context, out, errOut io.Writer) int {
	cfg, err := m.config(ctx)
	if err != nil {
		fmt.Fprintln(errOut, "ops-worker -healthcheck:", err)
		return 1
	}
	url, err := healthcheckURL(m.Addr, cfg)
	if err != nil {
		fmt.Fprintln(errOut, "ops-worker -healthcheck:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, HealthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(errOut, "ops-worker -healthcheck:", err)
		return 1
	}
	// Never through a proxy from HTTP_PROXY: the server is local.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(errOut, "ops-worker -healthcheck:", err)
		return 1
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	if res.StatusCode != http.StatusOK {
		fmt.Fprintf(errOut, "ops-worker -healthcheck: GET %s: %s %s\n", url, res.Status, strings.TrimSpace(string(body)))
		return 1
	}
	fmt.Fprintln(out, strings.TrimSpace(string(body)))
	return 0
}
