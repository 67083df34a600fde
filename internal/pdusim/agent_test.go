package pdusim

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labsim/labsimtest"
	"github.com/ops-worker/ops-worker/internal/power/apcmib"
)

func client(t *testing.T, a *Agent, v gosnmp.SnmpVersion, community string) *gosnmp.GoSNMP {
	t.Helper()
	g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(a.Port()), Version: v, Community: community,
		Timeout: 300 * time.Millisecond, Retries: 0, Context: t.Context()}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Conn.Close() })
	return g
}

func v3client(t *testing.T, a *Agent, user string, auth gosnmp.SnmpV3AuthProtocol, authKey string, priv gosnmp.SnmpV3PrivProtocol, privKey string) *gosnmp.GoSNMP {
	t.Helper()
	flags := gosnmp.AuthNoPriv
	if priv != gosnmp.NoPriv {
		flags = gosnmp.AuthPriv
	}
	g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(a.Port()), Version: gosnmp.Version3, Timeout: 300 * time.Millisecond, Context: t.Context(),
		SecurityModel: gosnmp.UserSecurityModel, MsgFlags: flags,
		SecurityParameters: &gosnmp.UsmSecurityParameters{UserName: user, AuthenticationProtocol: auth, AuthenticationPassphrase: authKey, PrivacyProtocol: priv, PrivacyPassphrase: privKey}}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Conn.Close() })
	return g
}

func TestWalkOrderAndTables(t *testing.T) {
	for _, c := range []struct {
		tables        Tables
		legacy, rpdu2 bool
		objID         string
	}{
		{TablesRPDU2, false, true, apcmib.ProductMasterSwitchRPDU2},
		{TablesLegacy, true, false, apcmib.ProductMasterSwitchRPDU},
		{TablesBoth, true, true, apcmib.ProductMasterSwitchRPDU2},
	} {
		t.Run(c.tables.String(), func(t *testing.T) {
			_, a := startTestAgent(t, c.tables, 0)
			g := client(t, a, gosnmp.Version2c, testRead)
			var names []string
			var prev oid
			err := g.Walk(".1.3", func(p gosnmp.SnmpPDU) error {
				o, _ := parseOID(p.Name)
				if prev != nil && slices.Compare(prev, o) >= 0 {
					t.Fatalf("walk not in lexicographic order: %s after %s", o, prev)
				}
				prev = o
				names = append(names, p.Name)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			has := func(s string) bool { return slices.Contains(names, "."+s) }
			if has(apcmib.LegacyOutletCount) != c.legacy || has(apcmib.RPDU2StatusIndex+".4") != c.rpdu2 || !has(apcmib.SysDescr) {
				t.Fatalf("tables %v: %d names", c.tables, len(names))
			}
			r, err := g.Get([]string{apcmib.SysObjectID, apcmib.LegacyOutletCtl + ".2", apcmib.RPDU2StatusState + ".9", "1.3.6.1.4.1.99.1.0"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Variables[0].Value != "."+c.objID {
				t.Fatalf("sysObjectID %v", r.Variables[0].Value)
			}
			if c.legacy && r.Variables[1].Value != apcmib.LegacyOn {
				t.Fatalf("legacy ctl.2 %v", r.Variables[1])
			}
			if !c.legacy && r.Variables[1].Type != gosnmp.NoSuchObject {
				t.Fatalf("legacy ctl on an rpdu2 device %v", r.Variables[1])
			}
			wantState := gosnmp.NoSuchObject
			if c.rpdu2 {
				wantState = gosnmp.NoSuchInstance
			}
			if r.Variables[2].Type != wantState || r.Variables[3].Type != gosnmp.NoSuchObject {
				t.Fatalf("absent instances %v %v", r.Variables[2], r.Variables[3])
			}
		})
	}
}

func TestBulkAndV1(t *testing.T) {
	_, a := startTestAgent(t, TablesRPDU2, 0)
	g := client(t, a, gosnmp.Version2c, testRead)
	r, err := g.GetBulk([]string{apcmib.SysDescr, apcmib.RPDU2StatusState}, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range r.Variables {
		got = append(got, v.Name)
	}
	want := []string{"." + apcmib.SysObjectID, "." + apcmib.RPDU2StatusState + ".1", "." + apcmib.RPDU2StatusState + ".2", "." + apcmib.RPDU2StatusState + ".3"}
	if !slices.Equal(got, want) {
		t.Fatalf("bulk %v want %v", got, want)
	}
	// A huge max-repetitions is cut to fit a datagram, not refused.
	r, err = g.GetBulk([]string{"1.3"}, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Variables) < 10 || r.Error != gosnmp.NoError {
		t.Fatalf("big bulk: %d varbinds, %v", len(r.Variables), r.Error)
	}
	// Past the end: endOfMibView.
	r, err = g.GetNext([]string{"1.3.6.1.4.1.318.2"})
	if err != nil || r.Variables[0].Type != gosnmp.EndOfMibView {
		t.Fatalf("past the end %v %v", err, r)
	}
	v1 := client(t, a, gosnmp.Version1, testRead)
	r, err = v1.Get([]string{apcmib.SysName, "1.3.6.1.2.1.1.99.0"})
	if err != nil || r.Error != gosnmp.NoSuchName || r.ErrorIndex != 2 {
		t.Fatalf("v1 missing: %v %+v", err, r)
	}
	// v1 has no GETBULK: no answer.
	if _, err := v1.GetBulk([]string{"1.3"}, 0, 3); err == nil {
		t.Fatal("v1 GETBULK answered")
	}
}

func TestSetAtomicDelayAndReadBack(t *testing.T) {
	dev, a := startTestAgent(t, TablesBoth, 150*time.Millisecond)
	g := client(t, a, gosnmp.Version2c, testWrite)
	// One bad varbind: nothing is done.
	r, err := g.Set([]gosnmp.SnmpPDU{
		{Name: apcmib.RPDU2ControlCommand + ".1", Type: gosnmp.Integer, Value: apcmib.RPDU2ImmediateOn},
		{Name: apcmib.RPDU2ControlCommand + ".2", Type: gosnmp.OctetString, Value: []byte("x")},
	})
	if err != nil || r.Error != gosnmp.WrongType || r.ErrorIndex != 2 || len(dev.Records()) != 0 {
		t.Fatalf("atomic set: %v %+v %v", err, r, dev.Records())
	}
	if r, err = g.Set([]gosnmp.SnmpPDU{{Name: apcmib.RPDU2ControlCommand + ".1", Type: gosnmp.Integer, Value: apcmib.RPDU2ImmediateOn}}); err != nil || r.Error != gosnmp.NoError {
		t.Fatalf("set: %v %+v", err, r)
	}
	state := func(col string) any {
		r, err := g.Get([]string{col + ".1"})
		if err != nil {
			t.Fatal(err)
		}
		return r.Variables[0].Value
	}
	// The delay: the old state and a pending command meanwhile.
	if s, p := state(apcmib.RPDU2StatusState), state(apcmib.RPDU2StatusCommandPending); s != apcmib.RPDU2StateOff || p != apcmib.CommandPending {
		t.Fatalf("during the delay: state %v pending %v", s, p)
	}
	waitFor(t, func() bool { return state(apcmib.RPDU2StatusState) == apcmib.RPDU2StateOn })
	if state(apcmib.LegacyOutletCtl) != apcmib.LegacyOn || state(apcmib.RPDU2StatusCommandPending) != apcmib.NoCommandPending {
		t.Fatal("legacy view disagrees")
	}
	// Reboot: off after the delay, on again after RebootOff.
	var mu sync.Mutex
	var seen []bool
	dev.OnSwitch(func(n int, on bool) {
		mu.Lock()
		defer mu.Unlock()
		if n == 1 {
			seen = append(seen, on)
		}
	})
	seenNow := func() []bool { mu.Lock(); defer mu.Unlock(); return slices.Clone(seen) }
	g.Set([]gosnmp.SnmpPDU{{Name: apcmib.LegacyOutletCtl + ".1", Type: gosnmp.Integer, Value: apcmib.LegacyReboot}})
	waitFor(t, func() bool { o, _ := dev.Outlet(1); return o.On && !o.Pending && len(seenNow()) == 2 })
	if !slices.Equal(seenNow(), []bool{false, true}) {
		t.Fatalf("reboot switched %v", seenNow())
	}
	dev.SetFault(FaultWrongReadBack)
	if state(apcmib.RPDU2StatusState) != apcmib.RPDU2StateOff {
		t.Fatal("wrong read-back shows the real state")
	}
	recs := dev.Records()
	if len(recs) != 2 || recs[1].Action != ActionReboot || recs[1].Protocol != "snmpv2c" || recs[1].User != "" {
		t.Fatalf("records %+v", recs)
	}
}

func TestFaultsTimeoutRefuse(t *testing.T) {
	dev, a := startTestAgent(t, TablesRPDU2, 0)
	g := client(t, a, gosnmp.Version2c, testRead)
	dev.SetFault(FaultTimeout)
	if _, err := g.Get([]string{apcmib.SysName}); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("timeout fault: %v", err)
	}
	dev.SetFault(FaultRefuse)
	_, err := g.Get([]string{apcmib.SysName})
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("refuse fault: %v", err)
	}
	dev.SetFault(FaultNone)
	if _, err := g.Get([]string{apcmib.SysName}); err != nil {
		t.Fatalf("after the fault: %v", err)
	}
}

func TestV3WithGoSNMP(t *testing.T) {
	_, a := startTestAgent(t, TablesRPDU2, 0)
	for _, c := range []struct {
		user string
		auth gosnmp.SnmpV3AuthProtocol
		priv gosnmp.SnmpV3PrivProtocol
	}{{testV3User, gosnmp.SHA, gosnmp.AES}, {"md5des", gosnmp.MD5, gosnmp.DES}, {"sha256", gosnmp.SHA256, gosnmp.NoPriv}} {
		g := v3client(t, a, c.user, c.auth, testAuth, c.priv, testPriv)
		r, err := g.Get([]string{apcmib.SysName})
		if err != nil || string(r.Variables[0].Value.([]byte)) != "pdu-lab-1" {
			t.Fatalf("%s: %v %v", c.user, err, r)
		}
	}
	g := v3client(t, a, testV3User, gosnmp.SHA, "wrong-pass", gosnmp.AES, testPriv)
	if _, err := g.Get([]string{apcmib.SysName}); err == nil {
		t.Fatal("wrong auth key answered")
	}
	if a.Stats().WrongDigests == 0 || a.Stats().UnknownEngineIDs == 0 {
		t.Fatalf("stats %+v", a.Stats())
	}
}

func TestV3NotInTimeWindow(t *testing.T) {
	_, a := startTestAgent(t, TablesRPDU2, 0)
	u := a.users["sha256"]
	msg := func(engineTime uint32) []byte {
		p := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgID: 7, MsgFlags: gosnmp.AuthNoPriv | gosnmp.Reportable, SecurityModel: gosnmp.UserSecurityModel,
			SecurityParameters: &gosnmp.UsmSecurityParameters{AuthoritativeEngineID: a.engineID, AuthoritativeEngineBoots: 1, AuthoritativeEngineTime: engineTime,
				UserName: "sha256", AuthenticationProtocol: gosnmp.SHA256, SecretKey: u.secretKey, PrivacyProtocol: gosnmp.NoPriv},
			ContextEngineID: a.engineID, PDUType: gosnmp.GetRequest, RequestID: 9, Variables: []gosnmp.SnmpPDU{{Name: apcmib.SysName, Type: gosnmp.Null}}}
		b, err := p.MarshalMsg()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	decode := func(b []byte) *gosnmp.SnmpPacket {
		if b == nil {
			t.Fatal("no answer")
		}
		x := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.AuthNoPriv,
			SecurityParameters: &gosnmp.UsmSecurityParameters{UserName: "sha256", AuthenticationProtocol: gosnmp.SHA256, SecretKey: u.secretKey, AuthoritativeEngineID: a.engineID}}
		p, err := x.SnmpDecodePacket(b)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := decode(a.handle(msg(a.engineTime()))); p.PDUType != gosnmp.GetResponse || p.MsgID != 7 || p.RequestID != 9 {
		t.Fatalf("in window: %+v", p)
	}
	p := decode(a.handle(msg(a.engineTime() + 1000)))
	if p.PDUType != gosnmp.Report || p.Variables[0].Name != oidNotInTimeWindows || p.MsgFlags&gosnmp.AuthNoPriv == 0 {
		t.Fatalf("out of window: %+v", p)
	}
	// A flipped bit anywhere after the header: wrong digest.
	b := msg(a.engineTime())
	b[len(b)-3] ^= 1
	if p := decode(a.handle(b)); p.PDUType != gosnmp.Report || p.Variables[0].Name != oidWrongDigests {
		t.Fatalf("tampered: %+v", p)
	}
}

type fakeStation struct{ events []string }

func (f *fakeStation) Sleep() { f.events = append(f.events, "sleep") }
func (f *fakeStation) Wake()  { f.events = append(f.events, "wake") }

func TestPlugStation(t *testing.T) {
	sim := labsimtest.Start(t, labsim.HostOptions{Name: "lab-ws-01"})
	h := sim.Host("lab-ws-01")
	dev, err := NewDevice(DeviceConfig{Outlets: 2, InitiallyOn: []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if err := PlugStation(dev, 3, h); err == nil {
		t.Fatal("outlet 3 of 2 accepted")
	}
	if err := PlugStation(dev, 1, h); err != nil {
		t.Fatal(err)
	}
	other := &fakeStation{}
	if err := plug(dev, 2, other); err != nil {
		t.Fatal(err)
	}
	if h.Asleep() {
		t.Fatal("asleep before any switch")
	}
	_ = dev.Command(1, ActionOff, "test", "")
	if !h.Asleep() {
		t.Fatal("station awake behind a switched-off outlet")
	}
	_ = dev.Command(1, ActionOn, "test", "")
	if h.Asleep() {
		t.Fatal("station asleep after switching on")
	}
	if len(other.events) != 0 {
		t.Fatalf("outlet 2's station saw %v", other.events)
	}
}
