package pdusim

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/ops-worker/ops-worker/internal/power/apcmib"
)

// netSNMP returns the path of a net-snmp tool, or skips (fails with
// OPS_TEST_SNMP=required) naming the missing binary.
func netSNMP(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("OPS_TEST_SNMP") == "required" {
			t.Fatalf("%s not found (Debian package snmp) and OPS_TEST_SNMP=required", name)
		}
		t.Skipf("%s not found (Debian package snmp); set OPS_TEST_SNMP=required to fail instead", name)
	}
	return p
}

type cmdResult struct {
	rc             int
	stdout, stderr string
}

func runTool(t *testing.T, name string, args ...string) cmdResult {
	t.Helper()
	bin := netSNMP(t, name)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// -On: numeric OIDs; no MIB files are loaded (-m ''), as on a machine
	// without APC's MIB.
	cmd := exec.CommandContext(ctx, bin, append([]string{"-m", "", "-On", "-t", "1", "-r", "0"}, args...)...)
	cmd.Env = append(os.Environ(), "MIBS=", "SNMPCONFPATH="+t.TempDir(), "HOME="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	rc := 0
	if ee, ok := err.(*exec.ExitError); ok {
		rc = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return cmdResult{rc, out.String(), errb.String()}
}

const (
	testRead   = "pub-r3ad"
	testWrite  = "priv-wr1te"
	testAuth   = "auth-pass-1"
	testPriv   = "priv-pass-1"
	testV3User = "ops"
)

func startTestAgent(t *testing.T, tables Tables, delay time.Duration) (*Device, *Agent) {
	t.Helper()
	dev, err := NewDevice(DeviceConfig{Outlets: 4, Names: []string{"PLC", "HMI"}, InitiallyOn: []int{2}, SwitchDelay: delay, RebootOff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	a, err := StartAgent(t.Context(), AgentConfig{
		Device: dev, Tables: tables, SysName: "pdu-lab-1",
		ReadCommunity: testRead, WriteCommunity: testWrite,
		Users: []User{
			{Name: testV3User, Auth: gosnmp.SHA, AuthKey: testAuth, Priv: gosnmp.AES, PrivKey: testPriv, Write: true},
			{Name: "md5des", Auth: gosnmp.MD5, AuthKey: testAuth, Priv: gosnmp.DES, PrivKey: testPriv, Write: true},
			{Name: "sha256", Auth: gosnmp.SHA256, AuthKey: testAuth, Write: true},
			{Name: "reader", Auth: gosnmp.SHA, AuthKey: testAuth, Priv: gosnmp.AES, PrivKey: testPriv},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return dev, a
}

func v3args(user, auth, authKey, priv, privKey string) []string {
	args := []string{"-v3", "-u", user}
	switch {
	case priv != "":
		args = append(args, "-l", "authPriv", "-a", auth, "-A", authKey, "-x", priv, "-X", privKey)
	case auth != "":
		args = append(args, "-l", "authNoPriv", "-a", auth, "-A", authKey)
	default:
		args = append(args, "-l", "noAuthNoPriv")
	}
	return args
}

func TestNetSNMPReadsAndSwitches(t *testing.T) {
	dev, a := startTestAgent(t, TablesRPDU2, 0)
	host := "udp:" + a.Addr()
	cases := []struct {
		name string
		args []string
		user string
	}{
		{"v2c", []string{"-v2c", "-c", testWrite}, ""},
		{"v1", []string{"-v1", "-c", testWrite}, ""},
		{"v3 SHA/AES", v3args(testV3User, "SHA", testAuth, "AES", testPriv), testV3User},
		{"v3 MD5/DES", v3args("md5des", "MD5", testAuth, "DES", testPriv), "md5des"},
		{"v3 SHA-256 authNoPriv", v3args("sha256", "SHA-256", testAuth, "", ""), "sha256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dev.ResetRecords()
			r := runTool(t, "snmpget", append(c.args, host, apcmib.SysName, apcmib.SysObjectID, apcmib.RPDU2StatusState+".2")...)
			if r.rc != 0 || !strings.Contains(r.stdout, `"pdu-lab-1"`) || !strings.Contains(r.stdout, apcmib.ProductMasterSwitchRPDU2) ||
				!strings.Contains(r.stdout, apcmib.RPDU2StatusState+".2 = INTEGER: 2") {
				t.Fatalf("snmpget rc=%d\n%s%s", r.rc, r.stdout, r.stderr)
			}
			r = runTool(t, "snmpwalk", append(c.args, host, apcmib.RPDU2StatusName)...)
			if r.rc != 0 || strings.Count(r.stdout, "STRING:") != 4 || !strings.Contains(r.stdout, `.3.1 = STRING: "PLC"`) {
				t.Fatalf("snmpwalk rc=%d\n%s%s", r.rc, r.stdout, r.stderr)
			}
			r = runTool(t, "snmpset", append(c.args, host, apcmib.RPDU2ControlCommand+".1", "i", "1")...)
			if r.rc != 0 {
				t.Fatalf("snmpset rc=%d\n%s%s", r.rc, r.stdout, r.stderr)
			}
			if o, _ := dev.Outlet(1); !o.On {
				t.Fatal("outlet 1 not on after snmpset")
			}
			r = runTool(t, "snmpget", append(c.args, host, apcmib.RPDU2StatusState+".1")...)
			if !strings.Contains(r.stdout, "INTEGER: 2") {
				t.Fatalf("read back: %s%s", r.stdout, r.stderr)
			}
			runTool(t, "snmpset", append(c.args, host, apcmib.RPDU2ControlCommand+".1", "i", "2")...)
			recs := dev.Records()
			if len(recs) != 2 || recs[0].Action != ActionOn || recs[1].Action != ActionOff || recs[0].Outlet != 1 || recs[0].User != c.user {
				t.Fatalf("records %+v", recs)
			}
		})
	}
}

func TestNetSNMPRefusals(t *testing.T) {
	dev, a := startTestAgent(t, TablesBoth, 0)
	host := "udp:" + a.Addr()
	get := []string{host, apcmib.SysName}
	cases := []struct {
		name   string
		tool   string
		args   []string
		rc     int
		stderr string
	}{
		{"wrong community", "snmpget", append([]string{"-v2c", "-c", "wrong"}, get...), 1, "Timeout"},
		{"v2c set with read community", "snmpset", []string{"-v2c", "-c", testRead, host, apcmib.LegacyOutletCtl + ".1", "i", "1"}, 2, "noAccess"},
		{"v1 set with read community", "snmpset", []string{"-v1", "-c", testRead, host, apcmib.LegacyOutletCtl + ".1", "i", "1"}, 2, "noSuchName"},
		{"v3 wrong auth key", "snmpget", append(v3args(testV3User, "SHA", "wrong-pass-1", "AES", testPriv), get...), 1, "Authentication failure"},
		{"v3 wrong auth protocol", "snmpget", append(v3args(testV3User, "MD5", testAuth, "AES", testPriv), get...), 1, "Authentication failure"},
		{"v3 wrong privacy key", "snmpget", append(v3args(testV3User, "SHA", testAuth, "AES", "wrong-priv-1"), get...), 1, "Timeout"},
		{"v3 unknown user", "snmpget", append(v3args("nobody", "SHA", testAuth, "AES", testPriv), get...), 1, "Unknown user name"},
		{"v3 below the user's level", "snmpget", append(v3args(testV3User, "SHA", testAuth, "", ""), get...), 2, "authorizationError"},
		{"v3 read-only user sets", "snmpset", append(v3args("reader", "SHA", testAuth, "AES", testPriv), host, apcmib.LegacyOutletCtl+".1", "i", "1"), 2, "noAccess"},
		{"v2c bad value", "snmpset", []string{"-v2c", "-c", testWrite, host, apcmib.LegacyOutletCtl + ".1", "i", "9"}, 2, "wrongValue"},
		{"v2c read-only object", "snmpset", []string{"-v2c", "-c", testWrite, host, apcmib.LegacyOutletName + ".1", "s", "x"}, 2, "notWritable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runTool(t, c.tool, c.args...)
			if r.rc != c.rc || !strings.Contains(r.stdout+r.stderr, c.stderr) {
				t.Fatalf("rc=%d want %d, want %q in\n%s%s", r.rc, c.rc, c.stderr, r.stdout, r.stderr)
			}
		})
	}
	if n := len(dev.Records()); n != 0 {
		t.Fatalf("%d records after refused requests", n)
	}
	st := a.Stats()
	if st.BadCommunity == 0 || st.WrongDigests < 2 || st.DecryptionErrors == 0 || st.UnknownUserNames == 0 {
		t.Fatalf("stats %+v", st)
	}
}
