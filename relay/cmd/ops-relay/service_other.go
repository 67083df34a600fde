//go:build !windows

package main

// isWindowsService is false off Windows: systemd runs ops-relay as a plain
// process (relay/ops-relay.service).
func isWindowsService() bool { return false }

func runService(*Main) error { return nil }
