package labsim

import "time"

// CommandRecord is one command line as the host received it. A Command
// refused with the quota fault never ran and is not recorded.
type CommandRecord struct {
	At    time.Time
	Shell string
	// CommandLine is exactly what arrived: Command + " " + Arguments.
	CommandLine string
	// Args is argv after the cmd.exe and MSVC phases (argv[0] = program);
	// nil when cmd.exe would have interpreted the line (see ParseCommandLine).
	Args []string
	// ExitCode is -1 while the command runs.
	ExitCode int
}

// Faults are a host's failure knobs; the zero value is a healthy host.
type Faults struct {
	Latency         time.Duration  // per HTTP request (overrides HostOptions.Latency when > 0)
	FailureRate     float64        // 0..1: that share of commands exit 2 with a PowerShell-like error on stderr
	Hang            bool           // commands never finish; Receive answers TimedOut faults until Signal/Delete
	GarbageOutput   bool           // stdout is random non-JSON bytes
	TruncatedOutput bool           // heartbeat.json served cut in the middle
	ExitCodes       map[string]int // per LabStation command name ("power" or "power shutdown"), forced exit code
	StaleHeartbeat  bool           // heartbeat timestamp frozen 2h in the past
	SchemaVersion   string         // heartbeat schemaVersion, e.g. "2.0.0" ("" = "1.0.0")
	EmptyEventsLog  bool           // session-guard-events.jsonl is empty
	// Output is, per LabStation command name (as ExitCodes), text the
	// command prints after its first line: a chatty station.
	Output map[string]string
	// DieMidCall powers the host down (as Sleep, per its SleepMode) when a
	// Receive arrives, before answering it: the connections drop while the
	// client waits for output. Wake brings it back; the fault stays set.
	DieMidCall bool
	// DeniedPaths are files or folders (any case or slash) that Set-Content
	// and Remove-Item may not write at or under: access denied, as an ACL
	// or a read-only file gives on Windows.
	DeniedPaths []string
	// WinRMOff stops the WinRM listeners of an awake host (the service
	// stopped or a firewall rule): their ports refuse while the health
	// endpoint still answers (discovery's labstation-detected-without-winrm).
	WinRMOff bool
	// HealthOff stops the Lab Station health endpoint: WinRM only.
	HealthOff bool
}
