package pdusim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/ops-worker/ops-worker/internal/power/apcmib"
)

// Tables selects which APC tables an agent answers, so the driver's
// profile auto-detection meets each kind of device.
type Tables int

// Tables.
const (
	// TablesRPDU2: an AP8xxx (rPDU2 ident, status and control tables).
	TablesRPDU2 Tables = iota
	// TablesLegacy: an AP79xx (sPDU ident and outlet control table).
	TablesLegacy
	// TablesBoth: both, as some firmware serves.
	TablesBoth
)

func (t Tables) String() string {
	switch t {
	case TablesRPDU2:
		return "rpdu2"
	case TablesLegacy:
		return "legacy"
	case TablesBoth:
		return "both"
	}
	return "tables(" + strconv.Itoa(int(t)) + ")"
}

// ParseTables reads "rpdu2", "legacy" or "both".
func ParseTables(s string) (Tables, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "rpdu2":
		return TablesRPDU2, nil
	case "legacy":
		return TablesLegacy, nil
	case "both":
		return TablesBoth, nil
	}
	return 0, fmt.Errorf("pdusim: tables %q: want rpdu2, legacy or both", s)
}

// Identity strings: those of an AP8959-class PDU with an NMC2 card.
const (
	rpdu2Model    = "AP8959EU3"
	legacyModel   = "AP7921"
	firmwareRev   = "v6.8.2"
	serialNumber  = "5A1902E01234"
	sysDescrRPDU2 = "APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.8.2 PN:apc_hw05_aos_682.bin AF1:v6.8.2 AN1:apc_hw05_rpdu2g_682.bin MN:" + rpdu2Model + " HR:02 SN: " + serialNumber + " MD:01/15/2019)"
	sysDescrLeg   = "APC Web/SNMP Management Card (MB:v3.9.2 PF:v3.9.4 PN:apc_hw02_aos_394.bin AF1:v3.7.4 AN1:apc_hw02_rpdu_374.bin MN:" + legacyModel + " HR:B2 SN: " + serialNumber + " MD:07/21/2012)"
)

type oid []uint32

func parseOID(s string) (oid, bool) {
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return nil, false
	}
	parts := strings.Split(s, ".")
	o := make(oid, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, false
		}
		o[i] = uint32(n)
	}
	return o, true
}

func mustOID(s string) oid {
	o, ok := parseOID(s)
	if !ok {
		panic("pdusim: bad constant OID " + s)
	}
	return o
}

func (o oid) String() string {
	var b strings.Builder
	for _, n := range o {
		b.WriteByte('.')
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return b.String()
}

func (o oid) hasPrefix(p oid) bool {
	return len(o) >= len(p) && slices.Equal(o[:len(p)], p)
}

// setter validates a SET value and returns the change to make once every
// varbind of the request is valid (SET is all or nothing).
type setter func(v gosnmp.SnmpPDU) (apply func(), status gosnmp.SNMPError)

type entry struct {
	oid   oid
	typ   gosnmp.Asn1BER
	value any
	set   setter // nil: read-only
}

// view is the MIB at one moment: entries sorted in OID order, and the
// column prefixes (an OID under a column but not an instance is a
// noSuchInstance, elsewhere a noSuchObject).
type view struct {
	entries []entry
	columns []oid
}

func (v *view) find(o oid) (int, bool) {
	return slices.BinarySearchFunc(v.entries, o, func(e entry, t oid) int { return slices.Compare(e.oid, t) })
}

// next is the first entry after o in lexicographic order.
func (v *view) next(o oid) (entry, bool) {
	i, found := v.find(o)
	if found {
		i++
	}
	if i >= len(v.entries) {
		return entry{}, false
	}
	return v.entries[i], true
}

func (v *view) isColumn(o oid) bool {
	for _, c := range v.columns {
		if o.hasPrefix(c) {
			return true
		}
	}
	return false
}

// mibView builds the agent's MIB from the device's state now.
func (a *Agent) mibView(proto, user string) *view {
	d := a.dev
	outs := d.Outlets()
	v := &view{}
	add := func(s string, typ gosnmp.Asn1BER, val any, set setter) {
		v.entries = append(v.entries, entry{oid: mustOID(s), typ: typ, value: val, set: set})
	}
	col := func(base string, idx int) string { return base + "." + strconv.Itoa(idx) }
	str := gosnmp.OctetString
	integer := gosnmp.Integer

	descr, objID := sysDescrRPDU2, apcmib.ProductMasterSwitchRPDU2
	if a.cfg.Tables == TablesLegacy {
		descr, objID = sysDescrLeg, apcmib.ProductMasterSwitchRPDU
	}
	add(apcmib.SysDescr, str, []byte(descr), nil)
	add(apcmib.SysObjectID, gosnmp.ObjectIdentifier, objID, nil)
	add(apcmib.SysUpTime, gosnmp.TimeTicks, uint32(time.Since(a.start)/(10*time.Millisecond)), nil)
	add(apcmib.SysContact, str, []byte("lab-ops"), nil)
	add(apcmib.SysName, str, []byte(a.cfg.SysName), nil)
	add(apcmib.SysLocation, str, []byte("pdusim"), nil)

	pending := func(o Outlet) int {
		if o.Pending {
			return apcmib.CommandPending
		}
		return apcmib.NoCommandPending
	}
	if a.cfg.Tables != TablesRPDU2 {
		add(apcmib.LegacyFirmware, str, []byte(firmwareRev), nil)
		add(apcmib.LegacyModel, str, []byte(legacyModel), nil)
		add(apcmib.LegacyOutletCount, integer, len(outs), nil)
		for _, o := range outs {
			state := apcmib.LegacyOff
			if o.Reported {
				state = apcmib.LegacyOn
			}
			add(col(apcmib.LegacyOutletIndex, o.Index), integer, o.Index, nil)
			add(col(apcmib.LegacyOutletPending, o.Index), integer, pending(o), nil)
			add(col(apcmib.LegacyOutletCtl, o.Index), integer, state,
				a.commandSetter(o.Index, map[int]Action{apcmib.LegacyOn: ActionOn, apcmib.LegacyOff: ActionOff, apcmib.LegacyReboot: ActionReboot}, proto, user))
			add(col(apcmib.LegacyOutletName, o.Index), str, []byte(o.Name), nil)
		}
		v.columns = append(v.columns, mustOID(apcmib.LegacyOutletTable))
	}
	if a.cfg.Tables != TablesLegacy {
		add(col(apcmib.RPDU2IdentFirmware, 1), str, []byte(firmwareRev), nil)
		add(col(apcmib.RPDU2IdentModel, 1), str, []byte(rpdu2Model), nil)
		add(col(apcmib.RPDU2IdentSerial, 1), str, []byte(serialNumber), nil)
		for _, o := range outs {
			state, cmdRead := apcmib.RPDU2StateOff, apcmib.RPDU2ImmediateOff
			if o.Reported {
				state, cmdRead = apcmib.RPDU2StateOn, apcmib.RPDU2ImmediateOn
			}
			i := o.Index
			add(col(apcmib.RPDU2StatusIndex, i), integer, i, nil)
			add(col(apcmib.RPDU2StatusModule, i), integer, 1, nil)
			add(col(apcmib.RPDU2StatusName, i), str, []byte(o.Name), nil)
			add(col(apcmib.RPDU2StatusNumber, i), integer, i, nil)
			add(col(apcmib.RPDU2StatusState, i), integer, state, nil)
			add(col(apcmib.RPDU2StatusCommandPending, i), integer, pending(o), nil)
			add(col(apcmib.RPDU2ControlIndex, i), integer, i, nil)
			add(col(apcmib.RPDU2ControlModule, i), integer, 1, nil)
			add(col(apcmib.RPDU2ControlName, i), str, []byte(o.Name), nil)
			add(col(apcmib.RPDU2ControlNumber, i), integer, i, nil)
			add(col(apcmib.RPDU2ControlCommand, i), integer, cmdRead,
				a.commandSetter(i, map[int]Action{apcmib.RPDU2ImmediateOn: ActionOn, apcmib.RPDU2ImmediateOff: ActionOff, apcmib.RPDU2ImmediateReboot: ActionReboot}, proto, user))
		}
		v.columns = append(v.columns, mustOID("1.3.6.1.4.1.318.1.1.26.2.1"), mustOID(apcmib.RPDU2StatusTable), mustOID(apcmib.RPDU2ControlTable))
	}
	slices.SortFunc(v.entries, func(x, y entry) int { return slices.Compare(x.oid, y.oid) })
	return v
}

// commandSetter accepts an INTEGER from values as a command for outlet n.
func (a *Agent) commandSetter(n int, values map[int]Action, proto, user string) setter {
	return func(pdu gosnmp.SnmpPDU) (func(), gosnmp.SNMPError) {
		if pdu.Type != gosnmp.Integer {
			return nil, gosnmp.WrongType
		}
		x, ok := pdu.Value.(int)
		if !ok {
			return nil, gosnmp.WrongType
		}
		act, ok := values[x]
		if !ok {
			return nil, gosnmp.WrongValue
		}
		return func() {
			if err := a.dev.Command(n, act, proto, user); err != nil {
				a.log.Warn("pdusim command", "outlet", n, "err", err)
			}
		}, gosnmp.NoError
	}
}

// maxBulkVarbinds bounds a GETBULK answer whatever max-repetitions asks.
const maxBulkVarbinds = 1024

// process answers one request PDU. v1 turns exceptions into errors (RFC
// 2576 4.2.1); a SET without write access is noAccess (v2c, v3) or
// noSuchName (v1), as net-snmp answers it.
func (a *Agent) process(req *gosnmp.SnmpPacket, write bool, proto, user string) *gosnmp.SnmpPacket {
	resp := &gosnmp.SnmpPacket{
		Version:   req.Version,
		Community: req.Community,
		PDUType:   gosnmp.GetResponse,
		RequestID: req.RequestID,
	}
	vw := a.mibView(proto, user)
	switch req.PDUType {
	case gosnmp.GetRequest:
		return answerGet(req, resp, vw)
	case gosnmp.GetNextRequest:
		return answerGetNext(req, resp, vw)
	case gosnmp.GetBulkRequest:
		return a.bulk(req, resp, vw)
	case gosnmp.SetRequest:
		return answerSet(req, resp, vw, write)
	}
	return resp
}

// failResponse makes resp an error answer about varbind idx (1-based);
// an error answer echoes the request's varbinds.
func failResponse(req, resp *gosnmp.SnmpPacket, status gosnmp.SNMPError, idx int) *gosnmp.SnmpPacket {
	resp.Error, resp.ErrorIndex = status, uint8(min(idx, 255))
	resp.Variables = echo(req.Variables)
	return resp
}

// lookup finds the entry named name; o is nil when name is no OID.
func (v *view) lookup(name string) (o oid, e entry, found bool) {
	o, ok := parseOID(name)
	if !ok {
		return nil, entry{}, false
	}
	i, found := v.find(o)
	if !found {
		return o, entry{}, false
	}
	return o, v.entries[i], true
}

// answerGet answers a GET: a missing OID is noSuchInstance under a
// column, noSuchObject elsewhere (v1: the whole request fails).
func answerGet(req, resp *gosnmp.SnmpPacket, vw *view) *gosnmp.SnmpPacket {
	v1 := req.Version == gosnmp.Version1
	for i, vb := range req.Variables {
		o, e, found := vw.lookup(vb.Name)
		if !found {
			if v1 {
				return failResponse(req, resp, gosnmp.NoSuchName, i+1)
			}
			typ := gosnmp.NoSuchObject
			if o != nil && vw.isColumn(o) {
				typ = gosnmp.NoSuchInstance
			}
			resp.Variables = append(resp.Variables, gosnmp.SnmpPDU{Name: vb.Name, Type: typ})
			continue
		}
		resp.Variables = append(resp.Variables, pduOf(e))
	}
	return resp
}

// answerGetNext answers a GETNEXT; a name that is no OID walks from the
// start of the MIB.
func answerGetNext(req, resp *gosnmp.SnmpPacket, vw *view) *gosnmp.SnmpPacket {
	v1 := req.Version == gosnmp.Version1
	for i, vb := range req.Variables {
		o, ok := parseOID(vb.Name)
		if !ok {
			o = oid{}
		}
		e, ok := vw.next(o)
		if !ok {
			if v1 {
				return failResponse(req, resp, gosnmp.NoSuchName, i+1)
			}
			resp.Variables = append(resp.Variables, gosnmp.SnmpPDU{Name: vb.Name, Type: gosnmp.EndOfMibView})
			continue
		}
		resp.Variables = append(resp.Variables, pduOf(e))
	}
	return resp
}

// answerSet answers a SET: every varbind is checked before any change
// is made, since SET is all or nothing.
func answerSet(req, resp *gosnmp.SnmpPacket, vw *view, write bool) *gosnmp.SnmpPacket {
	v1 := req.Version == gosnmp.Version1
	if !write {
		if v1 {
			return failResponse(req, resp, gosnmp.NoSuchName, 1)
		}
		return failResponse(req, resp, gosnmp.NoAccess, 1)
	}
	applies := make([]func(), 0, len(req.Variables))
	for i, vb := range req.Variables {
		apply, status := vw.checkSet(vb, v1)
		if status != gosnmp.NoError {
			return failResponse(req, resp, status, i+1)
		}
		applies = append(applies, apply)
	}
	for _, f := range applies {
		f()
	}
	resp.Variables = echo(req.Variables)
	return resp
}

// checkSet validates one SET varbind and returns the change it makes, or
// the error to answer: v1 has only noSuchName and badValue for these.
func (v *view) checkSet(vb gosnmp.SnmpPDU, v1 bool) (apply func(), status gosnmp.SNMPError) {
	o, e, found := v.lookup(vb.Name)
	if !found {
		if v1 {
			return nil, gosnmp.NoSuchName
		}
		if o != nil && v.isColumn(o) {
			return nil, gosnmp.NoCreation
		}
		return nil, gosnmp.NotWritable
	}
	if e.set == nil {
		if v1 {
			return nil, gosnmp.NoSuchName
		}
		return nil, gosnmp.NotWritable
	}
	apply, status = e.set(vb)
	if status != gosnmp.NoError && v1 {
		status = gosnmp.BadValue
	}
	return apply, status
}

func (a *Agent) bulk(req, resp *gosnmp.SnmpPacket, vw *view) *gosnmp.SnmpPacket {
	n := min(int(req.NonRepeaters), len(req.Variables))
	next := func(name string) gosnmp.SnmpPDU {
		o, ok := parseOID(name)
		if !ok {
			o = oid{}
		}
		if e, ok := vw.next(o); ok {
			return pduOf(e)
		}
		return gosnmp.SnmpPDU{Name: name, Type: gosnmp.EndOfMibView}
	}
	for _, vb := range req.Variables[:n] {
		resp.Variables = append(resp.Variables, next(vb.Name))
	}
	last := make([]string, 0, len(req.Variables)-n)
	for _, vb := range req.Variables[n:] {
		last = append(last, vb.Name)
	}
	for r := 0; r < int(req.MaxRepetitions) && len(last) > 0 && len(resp.Variables) < maxBulkVarbinds; r++ {
		allEnd := true
		for i, name := range last {
			p := next(name)
			if p.Type != gosnmp.EndOfMibView {
				allEnd = false
				last[i] = p.Name
			}
			resp.Variables = append(resp.Variables, p)
		}
		if allEnd {
			break
		}
	}
	if len(resp.Variables) > maxBulkVarbinds {
		resp.Variables = resp.Variables[:maxBulkVarbinds]
	}
	resp.MaxRepetitions = bulkMarker // fit trims it to maxSize
	return resp
}

func pduOf(e entry) gosnmp.SnmpPDU {
	return gosnmp.SnmpPDU{Name: e.oid.String(), Type: e.typ, Value: e.value}
}

// echo copies request varbinds for an error answer, with values the
// marshaller accepts (a request's values are untrusted).
func echo(vbs []gosnmp.SnmpPDU) []gosnmp.SnmpPDU {
	out := make([]gosnmp.SnmpPDU, 0, len(vbs))
	for _, vb := range vbs {
		out = append(out, sanitize(vb))
	}
	return out
}

func sanitize(vb gosnmp.SnmpPDU) gosnmp.SnmpPDU {
	name := vb.Name
	if o, ok := parseOID(name); ok && len(o) >= 2 {
		name = o.String()
	} else {
		name = ".0.0"
	}
	switch vb.Value.(type) {
	case int:
		if vb.Type == gosnmp.Integer {
			return gosnmp.SnmpPDU{Name: name, Type: vb.Type, Value: vb.Value}
		}
	case []byte:
		if vb.Type == gosnmp.OctetString {
			return gosnmp.SnmpPDU{Name: name, Type: vb.Type, Value: vb.Value}
		}
	}
	return gosnmp.SnmpPDU{Name: name, Type: gosnmp.Null}
}
