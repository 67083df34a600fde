package legacyimport

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ops-worker/ops-worker/internal/secrets"
)

// The errors below describe a decrypted payload by its shape only: never a
// value of it, and never encoding/json's own message, which can quote a
// character of the plaintext.

// winRMPayload checks the JSON save_winrm_credentials sealed,
// {"user": "...", "password": "..."}; as load_winrm_credentials, the user is
// trimmed, the password kept as is, other members ignored.
func winRMPayload(plain []byte) (user, password string, err error) {
	var p map[string]json.RawMessage
	if json.Unmarshal(plain, &p) != nil || p == nil {
		return "", "", errors.New(`decrypts to something that is not the JSON object {"user", "password"} the older worker wrote`)
	}
	if user, err = payloadString(p, "user"); err != nil {
		return "", "", err
	}
	if password, err = payloadString(p, "password"); err != nil {
		return "", "", err
	}
	user = strings.TrimSpace(user)
	if user == "" {
		return "", "", errors.New("decrypts to an empty user")
	}
	if strings.TrimSpace(password) == "" {
		return "", "", errors.New("decrypts to an empty password")
	}
	return user, password, nil
}

func payloadString(p map[string]json.RawMessage, name string) (string, error) {
	raw, ok := p[name]
	if !ok {
		return "", fmt.Errorf("decrypts to an object without %q", name)
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("decrypts to an object whose %q is not a string", name)
	}
	return s, nil
}

// The power credential types and SNMP protocols of upstream's
// power/credentials.py.
var (
	powerTypes    = []string{"snmpv1", "snmpv2c", "snmpv3", "netio-http-basic"}
	authProtocols = []string{"NONE", "MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"}
	privProtocols = []string{"NONE", "DES", "AES", "AES128"}
)

// maxPowerField is validate_power_credential's largest field (passwords).
const maxPowerField = 512

// powerPayload checks a decrypted power credential against the shape
// validate_power_credential gives its type: only that type's members, all
// strings, the required ones present and not empty.
func powerPayload(typ string, plain []byte) (map[string]secrets.Secret, error) {
	if !slices.Contains(powerTypes, typ) {
		if typ == "" {
			return nil, errors.New(`has no "type"`)
		}
		return nil, fmt.Errorf("type is not one of %s", strings.Join(powerTypes, ", "))
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(plain, &raw) != nil || raw == nil {
		return nil, errors.New("decrypts to something that is not a JSON object")
	}
	// Names are checked first, so the errors below only name members of
	// the type: an unknown member name is plaintext too.
	allowed := powerMembers[typ]
	for name := range raw {
		if !slices.Contains(allowed, name) {
			return nil, fmt.Errorf("decrypts to a %s credential with a member not one of %s", typ, strings.Join(allowed, ", "))
		}
	}
	p := make(map[string]string, len(raw))
	for name, v := range raw {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, fmt.Errorf("decrypts to an object whose %q is not a string", name)
		}
		if len(s) > maxPowerField {
			return nil, fmt.Errorf("decrypts to an object whose %q is longer than %d bytes", name, maxPowerField)
		}
		p[name] = s
	}
	if err := checkPowerFields(typ, p); err != nil {
		return nil, fmt.Errorf("decrypts to a %s credential that %w", typ, err)
	}
	fields := make(map[string]secrets.Secret, len(p))
	for name, s := range p {
		fields[name] = secrets.NewSecret(s)
	}
	return fields, nil
}

// powerMembers are the members validate_power_credential accepts per type.
var powerMembers = map[string][]string{
	"snmpv1":           {"version", "community"},
	"snmpv2c":          {"version", "community"},
	"snmpv3":           {"version", "username", "securityName", "authProtocol", "authPassword", "privProtocol", "privPassword", "contextName"},
	"netio-http-basic": {"username", "password"},
}

// checkPowerFields checks the values of p, whose members are the type's.
func checkPowerFields(typ string, p map[string]string) error {
	var required []string
	switch typ {
	case "snmpv1", "snmpv2c":
		required = []string{"community"}
		if v := strings.TrimPrefix(typ, "snmp"); p["version"] != v {
			return fmt.Errorf("does not have version %q", v)
		}
	case "snmpv3":
		required = []string{"username"}
		if v, ok := p["version"]; ok && v != "v3" {
			return errors.New(`does not have version "v3"`)
		}
		auth, priv := orNone(p["authProtocol"]), orNone(p["privProtocol"])
		if !slices.Contains(authProtocols, auth) {
			return fmt.Errorf("has an authProtocol not one of %s", strings.Join(authProtocols, ", "))
		}
		if !slices.Contains(privProtocols, priv) {
			return fmt.Errorf("has a privProtocol not one of %s", strings.Join(privProtocols, ", "))
		}
		if priv != "NONE" && auth == "NONE" {
			return errors.New("has privacy without authentication")
		}
		if auth != "NONE" {
			required = append(required, "authPassword")
		}
		if priv != "NONE" {
			required = append(required, "privPassword")
		}
	default: // netio-http-basic
		required = []string{"username", "password"}
	}
	for _, name := range required {
		if strings.TrimSpace(p[name]) == "" {
			return fmt.Errorf("has no %s", name)
		}
	}
	return nil
}

// orNone is an SNMPv3 protocol as validate_power_credential normalised it:
// upper case, "NONE" when absent.
func orNone(s string) string {
	if s = strings.ToUpper(strings.TrimSpace(s)); s == "" {
		return "NONE"
	}
	return s
}
