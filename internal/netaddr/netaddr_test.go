package netaddr_test

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/ops-worker/ops-worker/internal/netaddr"
)

func TestValidHost(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	name253 := strings.Repeat(label63+".", 3) + strings.Repeat("b", 61) // 64*3+61 = 253
	good := []string{
		"127.0.0.1", "10.1.2.255", "255.255.255.255", "::1", "fe80::1", "2001:db8::5",
		"lab-ws-01", "LAB-WS-01", "lab-ws-01.lab.example.edu", "lab-ws-01.", "a", "3com",
		"host_name", label63, label63 + ".example", name253, name253 + ".",
	}
	for _, s := range good {
		if err := netaddr.ValidHost(s); err != nil {
			t.Errorf("ValidHost(%q) = %v, want nil", s, err)
		}
	}
	bad := []string{
		"", " ", ".", "..", "a b", " lab", "lab ", "lab\t", "lab\n", "lab\r\nX-Evil: 1",
		"lab;reboot", "$(id)", "`id`", "a|b", "a&b", "a>b", "a<b", "a'b", `a"b`, "a\\b", "a/b",
		"../etc/passwd", "http://lab", "lab:5986", "10.0.0.1:9", "[::1]", "fe80::1%eth0",
		"10.0.0.300", "1.2.3", "999", "a..b", ".lab", "-lab", "lab-", "lab.-x", "lab.x-",
		"läb", "lab\x00", "*", "lab*", "%00", "a%b", "a!b", "a^b", "(a)", "lab,ws", "lab=1",
		strings.Repeat("a", 64), label63 + "." + strings.Repeat("b", 64),
		name253 + "c", name253 + "..", strings.Repeat("a.", 200), strings.Repeat("a", 100000),
	}
	for _, s := range bad {
		err := netaddr.ValidHost(s)
		if !errors.Is(err, netaddr.ErrInvalidHost) {
			t.Errorf("ValidHost(%.40q) = %v, want ErrInvalidHost", s, err)
			continue
		}
		if len(err.Error()) > 300 || strings.ContainsAny(err.Error(), "\r\n\x00") {
			t.Errorf("ValidHost(%.40q) message %.80q is long or holds a control character", s, err.Error())
		}
	}
}

func TestParseMAC(t *testing.T) {
	want := net.HardwareAddr{0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc}
	for _, s := range []string{"00:11:22:aa:bb:cc", "00-11-22-AA-BB-CC", "0011.22aa.bbcc", "001122aabbcc", "001122AaBbCc"} {
		got, err := netaddr.ParseMAC(s)
		if err != nil {
			t.Errorf("ParseMAC(%q) error: %v", s, err)
			continue
		}
		if got.String() != want.String() {
			t.Errorf("ParseMAC(%q) = %s, want %s", s, got, want)
		}
	}
	for _, s := range []string{
		"", "00:11:22:aa:bb", "00:11:22:aa:bb:cc:dd", "00:11-22:aa:bb:cc", "00.11.22.aa.bb.cc",
		"0011:22aa:bbcc", "00:11:22:aa:bb:cg", "0011.22aa.bbc", "001122aabbc", "001122aabbccd",
		"ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "00:00:00:00:00:00", " 00:11:22:aa:bb:cc",
		"00:11:22:aa:bb:c\n", "00_11_22_aa_bb_cc", "00:11:22:aa:bb:cc:dd:ee",
	} {
		if got, err := netaddr.ParseMAC(s); !errors.Is(err, netaddr.ErrInvalidMAC) {
			t.Errorf("ParseMAC(%q) = %s, %v; want ErrInvalidMAC", s, got, err)
		}
	}
}

func FuzzValidHost(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "lab-ws-01.example.edu", "::1", "a b", "$(id)", "10.0.0.300", "fe80::1%eth0", strings.Repeat("a", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if netaddr.ValidHost(s) != nil {
			return
		}
		if net.ParseIP(s) != nil {
			return
		}
		if len(s) > 254 {
			t.Fatalf("accepted %d characters", len(s))
		}
		for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
			if label == "" || len(label) > 63 {
				t.Fatalf("accepted %q with label %q", s, label)
			}
		}
		if strings.ContainsFunc(s, func(r rune) bool {
			return !(r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) {
			t.Fatalf("accepted %q with a character outside the host-name set", s)
		}
	})
}

func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{"00:11:22:aa:bb:cc", "00-11-22-aa-bb-cc", "0011.22aa.bbcc", "001122aabbcc", "ff:ff:ff:ff:ff:ff", "0:1:2:3:4:5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mac, err := netaddr.ParseMAC(s)
		if err != nil {
			return
		}
		if len(mac) != 6 || mac[0]&1 == 1 {
			t.Fatalf("ParseMAC(%q) = %v", s, mac)
		}
		again, err := netaddr.ParseMAC(mac.String())
		if err != nil || again.String() != mac.String() {
			t.Fatalf("round trip of %q: %v, %v", s, again, err)
		}
		if std, err := net.ParseMAC(s); err == nil && std.String() != mac.String() {
			t.Fatalf("ParseMAC(%q) = %s, net.ParseMAC says %s", s, mac, std)
		}
	})
}

func TestInPrefixes(t *testing.T) {
	ps := []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("fd00::/8")}
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"10.1.2.7", true},
		{"::ffff:10.1.2.7", true}, // IPv4-mapped: its IPv4 form
		{"10.1.3.7", false},
		{"fd00::1", true},
		{"127.0.0.1", false},
	} {
		if got := netaddr.InPrefixes(netip.MustParseAddr(c.addr), ps); got != c.want {
			t.Errorf("InPrefixes(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
	if netaddr.InPrefixes(netip.MustParseAddr("10.1.2.7"), nil) {
		t.Error("no prefixes: inside")
	}
}
