// Package hosts loads and validates the host catalog: hosts.json merged
// with the hosts added at run time to the database (ops_catalog_hosts).
package hosts

import "github.com/ops-worker/ops-worker/internal/wakelimits"

// Host is one Lab Station entry of the catalog, after env: secrets are
// resolved and values normalised. The JSON names are the hosts.json contract.
type Host struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// MAC is normalised to lower-case colon notation (aa:bb:cc:dd:ee:ff).
	MAC  string `json:"mac,omitempty"`
	Mode string `json:"mode,omitempty"` // "pure" | "hybrid" (informational)

	WinRMUser      string `json:"winrm_user,omitempty"`
	WinRMPass      string `json:"-"`                         // never marshalled: see Public
	WinRMTransport string `json:"winrm_transport,omitempty"` // ntlm (default) | basic | kerberos
	WinRMPort      int    `json:"winrm_port,omitempty"`      // default 5986 with SSL, 5985 without
	WinRMUseSSL    bool   `json:"winrm_use_ssl"`             // default true
	WinRMCAFile    string `json:"winrm_ca_file,omitempty"`   // wins over OPS_WINRM_CA_FILE
	// WinRMInsecureSkipVerify turns certificate verification off for this
	// host only; it is logged as a warning at load, and refused with Basic
	// or without OPS_STATION_CIDRS (checkSkipVerify).
	WinRMInsecureSkipVerify bool   `json:"winrm_insecure_skip_verify,omitempty"`
	WinRMTLSServerName      string `json:"winrm_tls_server_name,omitempty"`

	HeartbeatPath string `json:"heartbeat_path,omitempty"`
	EventsPath    string `json:"events_path,omitempty"`
	LabStationExe string `json:"labstation_exe,omitempty"`
	// LocalModeFlagPath is the file whose presence tells the station's
	// service (and its heartbeat's status.localModeEnabled) that the
	// station is in local-use-only mode.
	LocalModeFlagPath string `json:"local_mode_flag_path,omitempty"`

	PingTarget   string `json:"ping_target,omitempty"`
	Broadcast    string `json:"broadcast,omitempty"`
	WOLPort      int    `json:"wol_port,omitempty"`
	WakeAttempts int    `json:"wake_attempts,omitempty"`
	// WakeCheck picks the reachability probes after a magic packet:
	// "" or "auto" = ICMP echo and TCP connect to the WinRM port (either
	// answering counts), "tcp" = TCP only, "icmp" = ICMP only. Simulated
	// hosts on loopback use "tcp", since loopback always answers a ping.
	WakeCheck string `json:"wake_check,omitempty"`

	Labs        []string `json:"labs"`
	Quarantined bool     `json:"quarantined,omitempty"`
	Relay       string   `json:"relay,omitempty"`

	// CredentialRef names the host's WinRM credentials for a credential
	// store (GATEWAY.md's credentialRef): lower case, default the address.
	// Not a secret; the catalog's winrm_user/winrm_pass still apply.
	CredentialRef string `json:"credential_ref,omitempty"`

	// Source is where the entry came from: SourceFile (hosts.json) or
	// SourceDatabase (ops_catalog_hosts). Not a hosts.json field.
	Source string `json:"-"`
}

// The values of Host.Source.
const (
	SourceFile     = "file"
	SourceDatabase = "database"
)

// Defaults the loader applies to an empty field. The LabStation.exe paths
// are the catalog's own (LABSTATION.md's install); the WinRM port and
// transport defaults are winrmspec's (DefaultHTTPSPort, DefaultHTTPPort,
// DefaultTransport) and the Wake-on-LAN ones wakelimits': the names below
// are those values, not copies (winrm and wake use the same ones). The loader fills every field it defaults but
// broadcast (wake.Request's zero Broadcast is the limited broadcast), so
// code holding a loaded Host uses its fields as they are.
const (
	DefaultLabStationExe = `C:\LabStation\LabStation.exe`
	DefaultHeartbeatPath = `C:\LabStation\labstation\data\telemetry\heartbeat.json`
	DefaultEventsPath    = `C:\LabStation\labstation\data\telemetry\session-guard-events.jsonl`
	// DefaultLocalModeFlagPath is the flag of a station whose heartbeat
	// path is not under a Lab Station install root (localModeFlagDefault).
	DefaultLocalModeFlagPath = `C:\LabStation\labstation\data\local-mode.flag`
	DefaultBroadcast         = wakelimits.DefaultBroadcast
	DefaultWOLPort           = wakelimits.DefaultPort
	DefaultWakeAttempts      = wakelimits.DefaultAttempts
)
