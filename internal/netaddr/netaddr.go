// Package netaddr checks the syntax of what an operator or a request names
// on the network (host names, IP addresses, MAC addresses) before anything
// is sent, in one linear pass.
package netaddr

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ErrInvalidHost is wrapped by ValidHost's errors.
var ErrInvalidHost = errors.New("not a plain IP address or host name")

// ErrInvalidMAC is wrapped by ParseMAC's errors.
var ErrInvalidMAC = errors.New("invalid MAC address")

// Limits of a host name (RFC 1035).
const (
	maxNameLen  = 253
	maxLabelLen = 63
)

// ValidHost accepts a plain IP address (IPv4, or IPv6 without zone or
// brackets) or a host name: labels of letters, digits, '-' and '_', 1 to 63
// characters, not starting or ending with '-', at most 253 characters in
// all, an optional final dot, and a last label that is not all digits (so
// "10.0.0.300" is refused rather than looked up). It runs in one pass over
// s, with no regular expression.
func ValidHost(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrInvalidHost)
	}
	if len(s) > maxNameLen+1 {
		return fmt.Errorf("%w: %d characters, over %d", ErrInvalidHost, len(s), maxNameLen)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return fmt.Errorf("%w: %q has an IPv6 zone", ErrInvalidHost, s)
		}
		return nil
	}
	name := s
	if name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: %s has a bad length", ErrInvalidHost, quoteShort(s))
	}
	labelStart := 0
	allDigits := true
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			label := name[labelStart:i]
			switch {
			case label == "":
				return fmt.Errorf("%w: %s has an empty label", ErrInvalidHost, quoteShort(s))
			case len(label) > maxLabelLen:
				return fmt.Errorf("%w: a label of %s is %d characters, over %d", ErrInvalidHost, quoteShort(s), len(label), maxLabelLen)
			case label[0] == '-' || label[len(label)-1] == '-':
				return fmt.Errorf("%w: a label of %s starts or ends with '-'", ErrInvalidHost, quoteShort(s))
			}
			if i == len(name) && allDigits {
				return fmt.Errorf("%w: %s looks like an IP address but is not one", ErrInvalidHost, quoteShort(s))
			}
			labelStart = i + 1
			allDigits = true
			continue
		}
		c := name[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
			allDigits = false
		case c >= 0x80:
			return fmt.Errorf("%w: %s contains non-ASCII byte 0x%02x", ErrInvalidHost, quoteShort(s), c)
		default:
			return fmt.Errorf("%w: %s contains %q", ErrInvalidHost, quoteShort(s), rune(c))
		}
	}
	return nil
}

// quoteShort quotes at most the first 40 bytes of s for an error message.
func quoteShort(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%q…", s[:40])
	}
	return fmt.Sprintf("%q", s)
}

// ParseMAC parses an EUI-48 address written aa:bb:cc:dd:ee:ff,
// aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff or aabbccddeeff (any letter case). A
// multicast or broadcast address, or all zeros, is refused: no network card
// wakes for one.
func ParseMAC(s string) (net.HardwareAddr, error) {
	var hex [12]byte
	n := 0
	switch len(s) {
	case 12:
		copy(hex[:], s)
		n = 12
	case 17:
		sep := s[2]
		if sep != ':' && sep != '-' {
			return nil, fmt.Errorf("%w: %q", ErrInvalidMAC, s)
		}
		for i := 0; i < 17; i++ {
			if i%3 == 2 {
				if s[i] != sep {
					return nil, fmt.Errorf("%w: %q mixes separators", ErrInvalidMAC, s)
				}
				continue
			}
			hex[n] = s[i]
			n++
		}
	case 14:
		for i := 0; i < 14; i++ {
			if i == 4 || i == 9 {
				if s[i] != '.' {
					return nil, fmt.Errorf("%w: %q", ErrInvalidMAC, s)
				}
				continue
			}
			hex[n] = s[i]
			n++
		}
	default:
		return nil, fmt.Errorf("%w: %s has the wrong length", ErrInvalidMAC, quoteShort(s))
	}
	mac := make(net.HardwareAddr, 6)
	for i := 0; i < 6; i++ {
		hi, ok1 := unhex(hex[2*i])
		lo, ok2 := unhex(hex[2*i+1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: %q has a non-hex digit", ErrInvalidMAC, s)
		}
		mac[i] = hi<<4 | lo
	}
	if mac[0]&1 == 1 {
		return nil, fmt.Errorf("%w: %s is a multicast or broadcast address", ErrInvalidMAC, mac)
	}
	if string(mac) == "\x00\x00\x00\x00\x00\x00" {
		return nil, fmt.Errorf("%w: all zeros", ErrInvalidMAC)
	}
	return mac, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// InPrefixes reports whether a (an IPv4-mapped IPv6 address taken as its
// IPv4 form) lies inside one of prefixes.
func InPrefixes(a netip.Addr, prefixes []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
