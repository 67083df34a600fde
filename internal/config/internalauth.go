package config

import (
	"fmt"
	"net/textproto"
	"strings"
)

// DefaultInternalAuthHeader is OPS_INTERNAL_AUTH_HEADER's default, the
// header the current gateway's proxy sets (GATEWAY.md section 1).
const DefaultInternalAuthHeader = "X-Ops-Internal-Token"

// reservedAuthHeaders may not carry the internal credential: the current
// proxy strips them (and the operator's token has its own), so a service
// credential named after one of them would never arrive, or would be
// taken for the other credential.
var reservedAuthHeaders = []string{"X-Lab-Manager-Token", "Authorization", "Cookie"}

// checkInternalAuth checks OPS_INTERNAL_AUTH_HEADER: a valid HTTP field
// name that is none of reservedAuthHeaders. The name is kept in canonical
// form.
func (c *Config) checkInternalAuth() error {
	name := strings.TrimSpace(c.InternalAuthHeader)
	if !validFieldName(name) {
		return fmt.Errorf("OPS_INTERNAL_AUTH_HEADER: %q is not a valid HTTP header name", c.InternalAuthHeader)
	}
	for _, r := range reservedAuthHeaders {
		if strings.EqualFold(name, r) {
			return fmt.Errorf("OPS_INTERNAL_AUTH_HEADER: %s is reserved (the proxy strips it, or it carries another credential): pick another name such as %s", r, DefaultInternalAuthHeader)
		}
	}
	c.InternalAuthHeader = textproto.CanonicalMIMEHeaderKey(name)
	return nil
}

// validFieldName reports whether s is an RFC 9110 token (a field name).
func validFieldName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}
