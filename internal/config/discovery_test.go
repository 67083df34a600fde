package config_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/config"
	"github.com/ops-worker/ops-worker/internal/discovery"
	"github.com/ops-worker/ops-worker/internal/hosts"
)

func TestLoad_DiscoveryDefaults(t *testing.T) {
	c, err := config.LoadMap(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := c.DiscoveryConfig()
	if d.Timeout != discovery.DefaultTimeout {
		t.Errorf("timeout %v", d.Timeout)
	}
	if !slices.Equal(d.LabStationPorts, discovery.DefaultLabStationPorts()) || !slices.Equal(d.LabStationPaths, discovery.DefaultLabStationPaths()) {
		t.Errorf("ports %v paths %v", d.LabStationPorts, d.LabStationPaths)
	}
	if d.WinRMPort != discovery.DefaultWinRMPort || len(d.StationPrefixes) != 0 {
		t.Errorf("winrm %d prefixes %v", d.WinRMPort, d.StationPrefixes)
	}
	if !slices.Equal(c.DiscoveryHeartbeatPaths, []string{hosts.DefaultHeartbeatPath}) {
		t.Errorf("heartbeat paths %q", c.DiscoveryHeartbeatPaths)
	}
}

func TestLoad_DiscoverySet(t *testing.T) {
	c, err := config.LoadMap(context.Background(), map[string]string{
		"OPS_DISCOVERY_TIMEOUT_SECONDS":  "0.25",
		"OPS_DISCOVERY_LABSTATION_PORTS": " 9000, 9001 ",
		"OPS_DISCOVERY_LABSTATION_PATHS": "/status",
		"OPS_DISCOVERY_HEARTBEAT_PATHS":  `D:\LabStation\labstation\data\telemetry\heartbeat.json,C:\LabStation\labstation\data\telemetry\heartbeat.json`,
		"OPS_DISCOVERY_WINRM_PORT":       "15986",
		"OPS_STATION_CIDRS":              "10.1.0.0/16",
	})
	if err != nil {
		t.Fatal(err)
	}
	d := c.DiscoveryConfig()
	if d.Timeout != 250*time.Millisecond || !slices.Equal(d.LabStationPorts, []int{9000, 9001}) ||
		!slices.Equal(d.LabStationPaths, []string{"/status"}) || d.WinRMPort != 15986 ||
		len(d.StationPrefixes) != 1 || len(c.DiscoveryHeartbeatPaths) != 2 {
		t.Errorf("%+v %q", d, c.DiscoveryHeartbeatPaths)
	}
	if err := d.Validate(); err != nil {
		t.Error(err)
	}
}

func TestLoad_DiscoveryRefused(t *testing.T) {
	for name, vals := range map[string][]string{
		"OPS_DISCOVERY_TIMEOUT_SECONDS":  {"0.1", "31", "fast", "", "NaN"},
		"OPS_DISCOVERY_LABSTATION_PORTS": {"0", "70000", "http", ","},
		"OPS_DISCOVERY_LABSTATION_PATHS": {"health", "/a/../b", "/a?b", ","},
		"OPS_DISCOVERY_HEARTBEAT_PATHS":  {"heartbeat.json", ","},
		"OPS_DISCOVERY_WINRM_PORT":       {"0", "65536", "x"},
	} {
		for _, v := range vals {
			_, err := config.LoadMap(context.Background(), map[string]string{name: v})
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: %v, want an error naming it", name, v, err)
			}
		}
	}
}
