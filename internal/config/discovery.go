package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/discovery"
	"github.com/ops-worker/ops-worker/internal/labstation"
)

// Host discovery (POST /api/hosts/discover, issue 17): the older worker's
// OPS_DISCOVERY_* variables. The timeout is in seconds with a fraction
// (1.5), so it is read as text here rather than by checkTypes.

// Bounds of OPS_DISCOVERY_TIMEOUT_SECONDS: the older worker's floor, and a
// ceiling past which a discover request would outlive its HTTP request.
const (
	minDiscoveryTimeout = 200 * time.Millisecond
	maxDiscoveryTimeout = 30 * time.Second
)

// validateDiscovery parses and checks the discovery settings into the
// fields DiscoveryConfig reads.
func (c *Config) validateDiscovery() error {
	secs, err := strconv.ParseFloat(strings.TrimSpace(c.DiscoveryTimeoutText), 64)
	d := time.Duration(secs * float64(time.Second))
	if err != nil || d < minDiscoveryTimeout || d > maxDiscoveryTimeout {
		return fmt.Errorf("OPS_DISCOVERY_TIMEOUT_SECONDS: want seconds from %v to %v (1.5), got %q",
			minDiscoveryTimeout.Seconds(), maxDiscoveryTimeout.Seconds(), c.DiscoveryTimeoutText)
	}
	c.discoveryTimeout = d
	c.discoveryPorts = nil
	for _, s := range cleanList(c.DiscoveryLabStationPorts, false) {
		p, err := strconv.Atoi(s)
		if err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("OPS_DISCOVERY_LABSTATION_PORTS: %q is not a port 1..65535", s)
		}
		c.discoveryPorts = append(c.discoveryPorts, p)
	}
	if len(c.discoveryPorts) == 0 {
		return fmt.Errorf("OPS_DISCOVERY_LABSTATION_PORTS: no port given")
	}
	c.DiscoveryLabStationPaths = cleanList(c.DiscoveryLabStationPaths, false)
	if len(c.DiscoveryLabStationPaths) == 0 {
		return fmt.Errorf("OPS_DISCOVERY_LABSTATION_PATHS: no path given")
	}
	for _, p := range c.DiscoveryLabStationPaths {
		if err := discovery.CheckPath(p); err != nil {
			return fmt.Errorf("OPS_DISCOVERY_LABSTATION_PATHS: %w", err)
		}
	}
	c.DiscoveryHeartbeatPaths = cleanList(c.DiscoveryHeartbeatPaths, false)
	if len(c.DiscoveryHeartbeatPaths) == 0 {
		return fmt.Errorf("OPS_DISCOVERY_HEARTBEAT_PATHS: no path given")
	}
	for _, p := range c.DiscoveryHeartbeatPaths {
		if err := labstation.CheckDataPath(p); err != nil {
			return fmt.Errorf("OPS_DISCOVERY_HEARTBEAT_PATHS: %w", err)
		}
	}
	if c.DiscoveryWinRMPort < 1 || c.DiscoveryWinRMPort > 65535 {
		return fmt.Errorf("OPS_DISCOVERY_WINRM_PORT: want a port 1..65535, got %d", c.DiscoveryWinRMPort)
	}
	return nil
}

// DiscoveryConfig is the prober's configuration: the station networks
// (OPS_STATION_CIDRS) bound it too. The resolver and dialer are the
// system's (nil).
func (c Config) DiscoveryConfig() discovery.Config {
	return discovery.Config{
		Timeout:         c.discoveryTimeout,
		LabStationPorts: append([]int(nil), c.discoveryPorts...),
		LabStationPaths: append([]string(nil), c.DiscoveryLabStationPaths...),
		WinRMPort:       c.DiscoveryWinRMPort,
		StationPrefixes: c.StationPrefixes(),
	}
}
