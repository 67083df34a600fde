package apcsnmp

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

const snmpdPath = "/usr/sbin/snmpd"

// Test credentials of the snmpd the tests start (loopback only).
const (
	testCommunity = "rw-Secret-Community-7"
	roCommunity   = "ro-Secret-Community-7"
	testUser      = "opsuser"
	testAuthPass  = "auth-Secret-Pass-7"
	testPrivPass  = "priv-Secret-Pass-7"
)

type snmpd struct {
	port int
	out  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startSnmpd runs Debian's snmpd on a loopback UDP port with a config in
// t.TempDir(): a read-write and a read-only community, an SNMPv3 authPriv
// user (SHA/AES), and this test binary as the pass_persist helper that
// serves the APC tables of profile (fault as APCSIM_FAULT). Skips without
// snmpd unless OPS_TEST_SNMP=required.
func startSnmpd(t testing.TB, profile string, outlets int, fault string) *snmpd {
	t.Helper()
	if _, err := os.Stat(snmpdPath); err != nil {
		if os.Getenv("OPS_TEST_SNMP") == "required" {
			t.Fatalf("%s is required (OPS_TEST_SNMP=required): %v", snmpdPath, err)
		}
		t.Skipf("%s not installed (apt-get install snmpd); set OPS_TEST_SNMP=required to fail instead", snmpdPath)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := freeUDPPort(t)
	helper := filepath.Join(dir, "apcsim.sh")
	script := fmt.Sprintf("#!/bin/sh\nAPCSIM_PROFILE=%s APCSIM_OUTLETS=%d APCSIM_FAULT=%s exec %q -test.run=^$\n", profile, outlets, fault, self)
	if err := os.WriteFile(helper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`agentaddress udp:127.0.0.1:%d
rwcommunity %s 127.0.0.1
rocommunity %s 127.0.0.1
createUser %s SHA "%s" AES "%s"
rwuser %s priv
pass_persist .1.3.6.1.4.1.318 %s
`, port, testCommunity, roCommunity, testUser, testAuthPass, testPrivPass, testUser, helper)
	confPath := filepath.Join(dir, "snmpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd := exec.Command(snmpdPath, "-f", "-Lo", "-C", "-c", confPath, "-p", filepath.Join(dir, "snmpd.pid"), "-M", dir, "-m", "")
	cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+filepath.Join(dir, "persist"), "SNMPCONFPATH="+dir, "MIBS=")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start snmpd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	s := &snmpd{port: port, out: out}
	// Ready when it answers a v2c read.
	deadline := time.Now().Add(10 * time.Second)
	for {
		g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(port), Community: testCommunity, Version: gosnmp.Version2c, Timeout: 200 * time.Millisecond, Retries: 0, Context: context.Background()}
		if err := g.Connect(); err == nil {
			p, err := g.Get([]string{"1.3.6.1.2.1.1.1.0"})
			g.Conn.Close()
			if err == nil && len(p.Variables) == 1 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("snmpd did not answer in 10s; its output:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func v2c(community string) Credentials {
	return Credentials{Type: "snmpv2c", Fields: map[string]string{"version": "v2c", "community": community}}
}

func v3(auth, priv string) Credentials {
	return Credentials{Type: "snmpv3", Fields: map[string]string{"version": "v3", "username": testUser,
		"authProtocol": "SHA", "authPassword": auth, "privProtocol": "AES", "privPassword": priv}}
}

// noSecret fails when any test secret appears in s.
func noSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, sec := range []string{testCommunity, roCommunity, testAuthPass, testPrivPass, "wrong-Community-9", "wrong-Auth-Pass-9", "wrong-Priv-Pass-9"} {
		if strings.Contains(s, sec) {
			t.Fatalf("%s shows a secret: %s", what, s)
		}
	}
}
