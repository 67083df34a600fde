package hosts

import (
	"fmt"
	"log/slog"
	"strings"
)

// Redacted is what a secret prints as: "" stays "" (so a missing password
// shows as missing), anything else is the fixed mask "[REDACTED]".
func Redacted(secret string) string {
	if secret == "" {
		return ""
	}
	return "[REDACTED]"
}

// Public is a host entry safe to put in a response or a log line: it has no
// field that could carry a secret (the password is not redacted, it is
// absent, so a new secret field cannot leak by being forgotten here).
type Public struct {
	Name                    string   `json:"name"`
	Address                 string   `json:"address"`
	MAC                     string   `json:"mac,omitempty"`
	Mode                    string   `json:"mode,omitempty"`
	WinRMUser               string   `json:"winrm_user,omitempty"`
	WinRMTransport          string   `json:"winrm_transport"`
	WinRMPort               int      `json:"winrm_port"`
	WinRMUseSSL             bool     `json:"winrm_use_ssl"`
	WinRMCAFile             string   `json:"winrm_ca_file,omitempty"`
	WinRMInsecureSkipVerify bool     `json:"winrm_insecure_skip_verify,omitempty"`
	HeartbeatPath           string   `json:"heartbeat_path"`
	EventsPath              string   `json:"events_path"`
	LabStationExe           string   `json:"labstation_exe"`
	LocalModeFlagPath       string   `json:"local_mode_flag_path"`
	PingTarget              string   `json:"ping_target,omitempty"`
	Broadcast               string   `json:"broadcast,omitempty"`
	WOLPort                 int      `json:"wol_port"`
	WakeAttempts            int      `json:"wake_attempts"`
	WakeCheck               string   `json:"wake_check,omitempty"`
	Labs                    []string `json:"labs"`
	Quarantined             bool     `json:"quarantined"`
	Relay                   string   `json:"relay,omitempty"`
}

// Public returns the entry without secrets.
func (h Host) Public() Public {
	return Public{
		Name: h.Name, Address: h.Address, MAC: h.MAC, Mode: h.Mode,
		WinRMUser: h.WinRMUser, WinRMTransport: h.WinRMTransport, WinRMPort: h.WinRMPort,
		WinRMUseSSL: h.WinRMUseSSL, WinRMCAFile: h.WinRMCAFile, WinRMInsecureSkipVerify: h.WinRMInsecureSkipVerify,
		HeartbeatPath: h.HeartbeatPath, EventsPath: h.EventsPath, LabStationExe: h.LabStationExe,
		LocalModeFlagPath: h.LocalModeFlagPath,
		PingTarget:        h.PingTarget, Broadcast: h.Broadcast, WOLPort: h.WOLPort, WakeAttempts: h.WakeAttempts,
		WakeCheck: h.WakeCheck, Labs: append([]string{}, h.Labs...), Quarantined: h.Quarantined, Relay: h.Relay,
	}
}

// String and LogValue keep the password out of any log line that prints a
// Host whole.
func (h Host) String() string { return "host " + h.Name }

// LogValue implements slog.LogValuer.
func (h Host) LogValue() slog.Value { return slog.StringValue(h.Name) }

// hostFields is Host without its methods, for GoString.
type hostFields Host

// GoString is %#v: every field, the password masked (Redacted), so a debug
// dump of a Host holds no secret and no new field is forgotten.
func (h Host) GoString() string {
	c := hostFields(h)
	c.WinRMPass = Redacted(c.WinRMPass)
	return strings.Replace(fmt.Sprintf("%#v", c), "hosts.hostFields", "hosts.Host", 1)
}
