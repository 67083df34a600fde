package pdusim

import (
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/ops-worker/ops-worker/internal/power/apcmib"
)

// FuzzHandle feeds datagrams to the agent's handler (without the serve
// loop's recover): it must not panic, and whatever it answers must be an
// SNMP message gosnmp decodes.
func FuzzHandle(f *testing.F) {
	dev, err := NewDevice(DeviceConfig{Outlets: 3})
	if err != nil {
		f.Fatal(err)
	}
	defer dev.Close()
	a, err := newAgent(AgentConfig{Device: dev, Tables: TablesBoth, ReadCommunity: testRead, WriteCommunity: testWrite,
		Users: []User{{Name: testV3User, Auth: gosnmp.SHA, AuthKey: testAuth, Priv: gosnmp.AES, PrivKey: testPriv, Write: true},
			{Name: "des", Auth: gosnmp.MD5, AuthKey: testAuth, Priv: gosnmp.DES, PrivKey: testPriv}}})
	if err != nil {
		f.Fatal(err)
	}
	a.start = time.Now()
	seed := func(p *gosnmp.SnmpPacket) {
		b, err := p.MarshalMsg()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	vbs := []gosnmp.SnmpPDU{{Name: apcmib.RPDU2StatusState + ".1", Type: gosnmp.Null}}
	seed(&gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: testWrite, PDUType: gosnmp.GetRequest, RequestID: 1, Variables: vbs})
	seed(&gosnmp.SnmpPacket{Version: gosnmp.Version1, Community: testRead, PDUType: gosnmp.GetNextRequest, RequestID: 2, Variables: vbs})
	seed(&gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: testRead, PDUType: gosnmp.GetBulkRequest, RequestID: 3, NonRepeaters: 0, MaxRepetitions: 50, Variables: vbs})
	seed(&gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: testWrite, PDUType: gosnmp.SetRequest, RequestID: 4,
		Variables: []gosnmp.SnmpPDU{{Name: apcmib.LegacyOutletCtl + ".1", Type: gosnmp.Integer, Value: 1}}})
	u := a.users[testV3User]
	for _, flags := range []gosnmp.SnmpV3MsgFlags{gosnmp.Reportable, gosnmp.AuthNoPriv | gosnmp.Reportable, gosnmp.AuthPriv | gosnmp.Reportable} {
		sp := &gosnmp.UsmSecurityParameters{AuthoritativeEngineID: a.engineID, AuthoritativeEngineBoots: 1, UserName: testV3User,
			AuthenticationProtocol: gosnmp.SHA, SecretKey: u.secretKey, PrivacyProtocol: gosnmp.AES, PrivacyKey: u.privKey, PrivacyParameters: []byte("12345678")}
		if flags == gosnmp.Reportable {
			sp = &gosnmp.UsmSecurityParameters{}
		}
		seed(&gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgID: 5, MsgFlags: flags, SecurityModel: gosnmp.UserSecurityModel,
			SecurityParameters: sp, ContextEngineID: a.engineID, PDUType: gosnmp.GetRequest, RequestID: 6, Variables: vbs})
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out := a.handle(b)
		if out == nil {
			return
		}
		x := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
		p, err := x.SnmpDecodePacket(append([]byte(nil), out...))
		if p == nil || (p.Version != gosnmp.Version3 && err != nil) {
			t.Fatalf("answer does not decode: %v", err)
		}
		if p.Version != gosnmp.Version3 && p.PDUType != gosnmp.GetResponse {
			t.Fatalf("answer of type %v", p.PDUType)
		}
	})
}
