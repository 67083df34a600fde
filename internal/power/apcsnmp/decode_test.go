package apcsnmp

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/power/apcmib"
)

func pdu(name string, typ gosnmp.Asn1BER, v any) gosnmp.SnmpPDU {
	return gosnmp.SnmpPDU{Name: "." + name, Type: typ, Value: v}
}

func TestDecodeRPDU2(t *testing.T) {
	col := func(c string, vals ...any) []gosnmp.SnmpPDU {
		var out []gosnmp.SnmpPDU
		for i, v := range vals {
			name := c + "." + strconv.Itoa(i+1)
			switch v := v.(type) {
			case int:
				out = append(out, pdu(name, gosnmp.Integer, v))
			case string:
				out = append(out, pdu(name, gosnmp.OctetString, []byte(v)))
			}
		}
		return out
	}
	// Rows 1-2 on module 1, row 3 on module 2 (its outlet 1).
	mods := col(apcmib.RPDU2StatusModule, 1, 1, 2)
	nums := col(apcmib.RPDU2StatusNumber, 1, 2, 1)
	names := col(apcmib.RPDU2StatusName, "PLC\x00\n", "HMI", "Other")
	states := col(apcmib.RPDU2StatusState, 2, 1, 2)
	rows, err := decodeRPDU2(2, mods, nums, names, states, 96)
	if err != nil || len(rows) != 1 || rows[0].index != 3 || rows[0].Outlet != "1" {
		t.Fatalf("module 2: %+v, %v", rows, err)
	}
	rows, err = decodeRPDU2(1, mods, nums, names, states, 96)
	if err != nil || len(rows) != 2 || rows[0].OutletState != (power.OutletState{Outlet: "1", Name: "PLC", State: power.StateOn}) || rows[1].State != power.StateOff {
		t.Fatalf("module 1: %+v, %v", rows, err)
	}
	for _, tc := range []struct {
		name   string
		states []gosnmp.SnmpPDU
		code   string
	}{
		{"string state", col(apcmib.RPDU2StatusState, "2"), power.CodeBadResponse},
		{"no such instance", []gosnmp.SnmpPDU{pdu(apcmib.RPDU2StatusState+".1", gosnmp.NoSuchInstance, nil)}, power.CodeUnsupportedProfile},
		{"foreign oid", []gosnmp.SnmpPDU{pdu("1.3.6.1.2.1.1.1.0", gosnmp.Integer, 1)}, power.CodeBadResponse},
		{"bad index", []gosnmp.SnmpPDU{pdu(apcmib.RPDU2StatusState+".1.2", gosnmp.Integer, 1)}, power.CodeBadResponse},
		{"duplicate", append(col(apcmib.RPDU2StatusState, 1), col(apcmib.RPDU2StatusState, 1)...), power.CodeBadResponse},
		{"huge", col(apcmib.RPDU2StatusState, make([]any, 97)...), ""},
	} {
		st := tc.states
		if tc.name == "huge" {
			st = nil
			for i := 1; i <= 97; i++ {
				st = append(st, pdu(apcmib.RPDU2StatusState+"."+strconv.Itoa(i), gosnmp.Integer, 1))
			}
			tc.code = power.CodeBadResponse
		}
		if _, err := decodeRPDU2(1, nil, nil, nil, st, 96); power.CodeOf(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	// Two rows claiming one outlet number.
	if _, err := decodeRPDU2(1, nil, col(apcmib.RPDU2StatusNumber, 1, 1), nil, col(apcmib.RPDU2StatusState, 1, 2), 96); power.CodeOf(err) != power.CodeBadResponse {
		t.Errorf("duplicate number: %v", err)
	}
	// An unknown state value is reported as unknown, not an error.
	rows, err = decodeLegacy([]gosnmp.SnmpPDU{pdu(apcmib.LegacyOutletCtl+".1", gosnmp.Integer, 4)}, nil, 96)
	if err != nil || rows[0].State != power.StateUnknown {
		t.Errorf("legacy state 4: %+v, %v", rows, err)
	}
}

func TestCredentialsAndConfig(t *testing.T) {
	for _, tc := range []struct {
		creds Credentials
		ok    bool
	}{
		{v2c("c"), true},
		{Credentials{Type: "snmpv2c", Fields: map[string]string{}}, false},
		{Credentials{Type: "snmpv1", Fields: map[string]string{"version": "v2c", "community": "c"}}, false},
		{v3("12345678", "12345678"), true},
		{v3("short", "12345678"), false},
		{Credentials{Type: "snmpv3", Fields: map[string]string{"username": "u", "privProtocol": "AES", "privPassword": "12345678"}}, false},
		{Credentials{Type: "snmpv3", Fields: map[string]string{"username": "u", "authProtocol": "SHA512", "authPassword": "12345678"}}, true},
		{Credentials{Type: "snmpv3", Fields: map[string]string{"username": "u", "authProtocol": "SHA3", "authPassword": "12345678"}}, false},
		{Credentials{Type: "netio-http-basic", Fields: map[string]string{"username": "u"}}, false},
	} {
		_, err := New(Config{Host: "127.0.0.1"}, tc.creds)
		if (err == nil) != tc.ok || (err != nil && power.CodeOf(err) != power.CodeConfig) {
			t.Errorf("New(%v): %v, want ok=%v", tc.creds.Fields["authProtocol"], err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "12345678") {
			t.Errorf("error shows a secret: %v", err)
		}
	}
	for _, cfg := range []Config{{}, {Host: "h", Port: 70000}, {Host: "h", Profile: "x"}, {Host: "h", ModuleIndex: -1}, {Host: "h", MaxOutlets: 10000}} {
		if _, err := New(cfg, v2c("c")); power.CodeOf(err) != power.CodeConfig {
			t.Errorf("New(%+v): %v, want config error", cfg, err)
		}
	}
	d, err := New(Config{Host: "127.0.0.1"}, v2c("Secret-C"))
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v %#v %s %+v", d, d, d, v2c("Secret-C"), []any{d, v2c("Secret-C")}); strings.Contains(s, "Secret-C") {
		t.Fatalf("driver print shows the community: %s", s)
	}
}

// FuzzDecode feeds arbitrary varbind lists (names, types, values) to the
// decoders: they answer rows or a *power.Error, never panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x02, 1, 2, 0x04, 1, 1}, uint8(1))
	f.Add([]byte{0x81, 0, 0, 0x80, 1, 200, 0x05, 0, 7}, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, module uint8) {
		types := []gosnmp.Asn1BER{gosnmp.Integer, gosnmp.OctetString, gosnmp.Null, gosnmp.ObjectIdentifier, gosnmp.Gauge32,
			gosnmp.Counter32, gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Counter64, gosnmp.Uinteger32}
		cols := []string{apcmib.RPDU2StatusModule, apcmib.RPDU2StatusNumber, apcmib.RPDU2StatusName, apcmib.RPDU2StatusState, apcmib.LegacyOutletCtl, apcmib.LegacyOutletName, "1.3.6.1.4.1.318", "1.3"}
		var vars [6][]gosnmp.SnmpPDU
		for len(data) >= 3 {
			typ := types[int(data[0])%len(types)]
			c := cols[int(data[1])%len(cols)]
			idx := int(int8(data[2]))
			data = data[3:]
			var v any
			switch data := data; {
			case len(data) == 0:
			case data[0]%4 == 0:
				v = int(int8(data[0]))
			case data[0]%4 == 1:
				v = uint(data[0]) << 28
			case data[0]%4 == 2:
				v = data
			default:
				v = "s"
			}
			name := c + "." + strconv.Itoa(idx)
			if idx%7 == 0 {
				name += ".9"
			}
			vars[int(idx&0xff)%6] = append(vars[int(idx&0xff)%6], gosnmp.SnmpPDU{Name: "." + name, Type: typ, Value: v})
		}
		check := func(rows []outletRow, err error) {
			if err != nil && power.CodeOf(err) == "" {
				t.Fatalf("untyped error %v", err)
			}
			if len(rows) > 8 {
				t.Fatalf("%d rows beyond the bound", len(rows))
			}
		}
		check(decodeRPDU2(int(module), vars[0], vars[1], vars[2], vars[3], 8))
		check(decodeLegacy(vars[4], vars[5], 8))
		for _, vs := range vars {
			if len(vs) > 0 {
				_, _ = intValue(vs[0], "x")
				_, _ = single(apcmib.LegacyOutletCount, vs)
			}
		}
	})
}
