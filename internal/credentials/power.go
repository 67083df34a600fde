package credentials

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/ops-worker/ops-worker/internal/domain"
)

var (
	snmpAuthProtocols = []string{"NONE", "MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"}
	snmpPrivProtocols = []string{"NONE", "DES", "AES", "AES128"}
	powerTypes        = []string{TypeSNMPv1, TypeSNMPv2c, TypeSNMPv3, TypeNetioHTTPBasic}
)

// text is one field as the older worker read it (str(value or "")
// stripped): text or a number; required ones non-empty; bounded. The
// error names the field, never the value.
func text(m map[string]any, key, name string, required bool, max int) (string, error) {
	var s string
	switch v := m[key].(type) {
	case nil:
	case string:
		s = v
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		s = strconv.Itoa(v)
	case bool:
		if v {
			s = "True" // Python's str(True): what the older worker stored
		}
	default:
		return "", invalid("%s must be text", name)
	}
	s = strings.TrimSpace(s)
	if required && s == "" {
		return "", invalid("%s is required", name)
	}
	if len(s) > max {
		return "", invalid("%s is too long (at most %d characters)", name, max)
	}
	return s, nil
}

func onlyFields(m map[string]any, what string, allowed ...string) error {
	var extra []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		// Field names are the caller's keys, not values: safe to name.
		return invalid("%s credential has unsupported fields: %s (allowed: %s)", what, strings.Join(extra, ", "), strings.Join(allowed, ", "))
	}
	return nil
}

// ValidatePower checks and normalizes a power-controller credential as
// the older worker's validate_power_credential: the type, the fields each
// type allows (no other), the SNMP protocols. It answers the type in lower
// case and the normalized fields.
func ValidatePower(typ string, creds map[string]any) (string, map[string]string, error) {
	kind := strings.ToLower(strings.TrimSpace(typ))
	if !slices.Contains(powerTypes, kind) {
		return "", nil, invalid("type %q is unsupported (want %s)", truncate(typ, 32), strings.Join(powerTypes, ", "))
	}
	if len(creds) == 0 {
		return "", nil, invalid("credential must be a non-empty object")
	}
	var out map[string]string
	var err error
	switch kind {
	case TypeSNMPv1, TypeSNMPv2c:
		out, err = snmpCommunity(kind, creds)
	case TypeSNMPv3:
		out, err = snmpV3(creds)
	default: // netio-http-basic
		out, err = netioBasic(creds)
	}
	if err != nil {
		return "", nil, err
	}
	return kind, out, nil
}

// snmpCommunity is an SNMP v1 or v2c credential: version and community.
func snmpCommunity(kind string, creds map[string]any) (map[string]string, error) {
	if err := onlyFields(creds, "SNMP", "version", "community"); err != nil {
		return nil, err
	}
	want := strings.TrimPrefix(kind, "snmp")
	v, err := text(creds, "version", "version", false, 8)
	if err != nil {
		return nil, err
	}
	if v = strings.ToLower(v); v == "" {
		v = want
	}
	if v != want {
		return nil, invalid("SNMP version %q does not match type %s", v, kind)
	}
	community, err := text(creds, "community", "community", true, 256)
	if err != nil {
		return nil, err
	}
	return map[string]string{"version": v, "community": community}, nil
}

// snmpV3 is an SNMPv3 USM credential: the user, the protocols, the keys
// the protocols need, an optional context.
func snmpV3(creds map[string]any) (map[string]string, error) {
	if err := onlyFields(creds, "SNMPv3", "version", "username", "securityName", "authProtocol", "authPassword", "privProtocol", "privPassword", "contextName"); err != nil {
		return nil, err
	}
	v, err := text(creds, "version", "version", false, 8)
	if err != nil {
		return nil, err
	}
	if v != "" && strings.ToLower(v) != "v3" {
		return nil, invalid("SNMPv3 credential must use version v3")
	}
	userKey := "username"
	if u, _ := creds["username"].(string); strings.TrimSpace(u) == "" {
		userKey = "securityName"
	}
	user, err := text(creds, userKey, "username", true, 256)
	if err != nil {
		return nil, err
	}
	auth, err := protocol(creds, "authProtocol", "authentication protocol", snmpAuthProtocols)
	if err != nil {
		return nil, err
	}
	priv, err := protocol(creds, "privProtocol", "privacy protocol", snmpPrivProtocols)
	if err != nil {
		return nil, err
	}
	if priv != "NONE" && auth == "NONE" {
		return nil, invalid("SNMPv3 privacy requires authentication")
	}
	out := map[string]string{"version": "v3", "username": user, "authProtocol": auth, "privProtocol": priv}
	if auth != "NONE" {
		if out["authPassword"], err = text(creds, "authPassword", "authentication password", true, maxPassword); err != nil {
			return nil, err
		}
	}
	if priv != "NONE" {
		if out["privPassword"], err = text(creds, "privPassword", "privacy password", true, maxPassword); err != nil {
			return nil, err
		}
	}
	ctxName, err := text(creds, "contextName", "context name", false, 256)
	if err != nil {
		return nil, err
	}
	if ctxName != "" {
		out["contextName"] = ctxName
	}
	return out, nil
}

// netioBasic is a NETIO HTTP Basic credential: username and password.
func netioBasic(creds map[string]any) (map[string]string, error) {
	if err := onlyFields(creds, "NETIO", "username", "password"); err != nil {
		return nil, err
	}
	user, err := text(creds, "username", "username", true, maxName)
	if err != nil {
		return nil, err
	}
	pass, err := text(creds, "password", "password", true, maxPassword)
	if err != nil {
		return nil, err
	}
	return map[string]string{"username": user, "password": pass}, nil
}

func protocol(m map[string]any, key, name string, allowed []string) (string, error) {
	p, err := text(m, key, name, false, 16)
	if err != nil {
		return "", err
	}
	p = strings.ToUpper(p)
	if p == "" {
		p = "NONE"
	}
	if !slices.Contains(allowed, p) {
		return "", invalid("SNMPv3 %s %q is invalid (want %s)", name, truncate(p, 16), strings.Join(allowed, ", "))
	}
	return p, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// SavePower validates (ValidatePower), seals and stores the power
// credential of ref. Without overwrite an existing reference is ErrExists;
// rotated tells an existing one was replaced.
func (s *Service) SavePower(ctx context.Context, ref, typ string, creds map[string]any, overwrite bool, actor string) (Meta, bool, error) {
	norm, err := normalizeRef(ref)
	if err != nil {
		return Meta{}, false, err
	}
	kind, fields, err := ValidatePower(typ, creds)
	if err != nil {
		return Meta{}, false, err
	}
	if err := s.writable(); err != nil {
		return Meta{}, false, err
	}
	created, keyID, err := s.put(ctx, domain.CredentialKindPower, norm, kind, fields, overwrite, actor)
	if err != nil {
		return Meta{}, false, err
	}
	s.opts.Logger.InfoContext(ctx, "credential saved", "kind", domain.CredentialKindPower, "credential_ref", norm, "type", kind, "by", cleanActor(actor))
	return Meta{CredentialRef: norm, Type: kind, KeyID: keyID, UpdatedAt: s.opts.Now().UTC(), UpdatedBy: cleanActor(actor)}, !created, nil
}

// Power opens ref's power credential: its type and fields. An absent one
// is ErrNotFound.
func (s *Service) Power(ctx context.Context, ref string) (string, map[string]string, error) {
	norm, err := normalizeRef(ref)
	if err != nil {
		return "", nil, err
	}
	if err := s.writable(); err != nil {
		return "", nil, err
	}
	var fields map[string]string
	typ, found, err := s.open(ctx, domain.CredentialKindPower, norm, &fields)
	if err != nil {
		return "", nil, err
	}
	if !found {
		return "", nil, fmt.Errorf("power credential %s: %w", norm, ErrNotFound)
	}
	return typ, maps.Clone(fields), nil
}
