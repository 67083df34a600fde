package apcsnmp

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"

	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/power/apcmib"
)

// The decoders below turn an agent's varbinds into the driver's values.
// Every varbind is untrusted: a type it should not have, an exception
// (noSuchObject, noSuchInstance, endOfMibView), a name outside the asked
// column, a value out of range. Each gives a *power.Error, never a panic.

const maxText = 64 // bytes of device text (names, model) kept

// missing reports an exception varbind: the agent has no such object.
func missing(v gosnmp.SnmpPDU) bool {
	switch v.Type {
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Null:
		return true
	}
	return false
}

func trimDot(oid string) string { return strings.TrimPrefix(oid, ".") }

// intValue is v's integer value; SNMP integers come as several types.
func intValue(v gosnmp.SnmpPDU, what string) (int, error) {
	if missing(v) {
		return 0, power.Errorf(power.CodeUnsupportedProfile, "the device has no %s", what)
	}
	switch v.Type {
	case gosnmp.Integer, gosnmp.Gauge32, gosnmp.Counter32, gosnmp.Uinteger32:
	default:
		return 0, power.Errorf(power.CodeBadResponse, "the device's %s is not an integer (type %s)", what, v.Type)
	}
	switch n := v.Value.(type) {
	case int:
		return n, nil
	case uint:
		if n > 1<<31 {
			return 0, power.Errorf(power.CodeBadResponse, "the device's %s is out of range", what)
		}
		return int(n), nil
	case uint32:
		return int(n), nil
	}
	return 0, power.Errorf(power.CodeBadResponse, "the device's %s is not an integer", what)
}

// textValue is v's octet string, cleaned for display and logs: valid UTF-8,
// no control characters, at most maxText bytes. ok is false for an absent
// object or another type.
func textValue(v gosnmp.SnmpPDU) (string, bool) {
	if v.Type != gosnmp.OctetString {
		return "", false
	}
	b, ok := v.Value.([]byte)
	if !ok {
		return "", false
	}
	return cleanText(b), true
}

func cleanText(b []byte) string {
	if len(b) > 4*maxText {
		b = b[:4*maxText]
	}
	var sb strings.Builder
	for _, r := range strings.ToValidUTF8(string(b), "?") {
		if sb.Len()+utf8.RuneLen(r) > maxText {
			break
		}
		if unicode.IsControl(r) {
			r = ' '
		}
		sb.WriteRune(r)
	}
	return strings.TrimSpace(sb.String())
}

// rowIndex is the index of v in column (one positive integer sub-identifier).
func rowIndex(column string, v gosnmp.SnmpPDU) (int, error) {
	name := trimDot(v.Name)
	rest, ok := strings.CutPrefix(name, column+".")
	if !ok {
		return 0, power.Errorf(power.CodeBadResponse, "the device answered an object outside the asked table")
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n <= 0 || n > 1<<30 {
		return 0, power.Errorf(power.CodeBadResponse, "the device answered a table row with an invalid index")
	}
	return n, nil
}

// column is one walked table column: index → varbind. More than max rows,
// a duplicate or a foreign row is a bad response.
func column(name string, vars []gosnmp.SnmpPDU, max int) (map[int]gosnmp.SnmpPDU, error) {
	if len(vars) > max {
		return nil, power.Errorf(power.CodeBadResponse, "the device lists more than %d outlets", max)
	}
	out := make(map[int]gosnmp.SnmpPDU, len(vars))
	for _, v := range vars {
		i, err := rowIndex(name, v)
		if err != nil {
			return nil, err
		}
		if _, dup := out[i]; dup {
			return nil, power.Errorf(power.CodeBadResponse, "the device answered a table row twice")
		}
		out[i] = v
	}
	return out, nil
}

// legacyState maps sPDUOutletCtl; a reboot in progress or another value
// is StateUnknown.
func legacyState(v gosnmp.SnmpPDU) (string, error) {
	n, err := intValue(v, "outlet state")
	if err != nil {
		return "", err
	}
	switch n {
	case apcmib.LegacyOn:
		return power.StateOn, nil
	case apcmib.LegacyOff:
		return power.StateOff, nil
	}
	return power.StateUnknown, nil
}

func rpdu2State(v gosnmp.SnmpPDU) (string, error) {
	n, err := intValue(v, "outlet state")
	if err != nil {
		return "", err
	}
	switch n {
	case apcmib.RPDU2StateOn:
		return power.StateOn, nil
	case apcmib.RPDU2StateOff:
		return power.StateOff, nil
	}
	return power.StateUnknown, nil
}

// outletRow is one outlet with the table index its commands address.
type outletRow struct {
	power.OutletState
	index int
}

// decodeLegacy builds the outlets of the legacy table from its walked
// state and name columns. A row without a state is a bad response; a
// missing name is allowed.
func decodeLegacy(states, names []gosnmp.SnmpPDU, max int) ([]outletRow, error) {
	st, err := column(apcmib.LegacyOutletCtl, states, max)
	if err != nil {
		return nil, err
	}
	nm, err := column(apcmib.LegacyOutletName, names, max)
	if err != nil {
		return nil, err
	}
	rows := make([]outletRow, 0, len(st))
	for i, v := range st {
		s, err := legacyState(v)
		if err != nil {
			return nil, err
		}
		name, _ := textValue(nm[i])
		rows = append(rows, outletRow{OutletState: power.OutletState{Outlet: strconv.Itoa(i), Name: name, State: s}, index: i})
	}
	sortRows(rows)
	return rows, nil
}

// decodeRPDU2 builds module's outlets from the rPDU2 status table's walked
// module, number, name and state columns. The outlet key is the outlet's
// number on its module; the index is the row's (commands use it). Rows of
// other modules are skipped; two rows with one number are a bad response.
func decodeRPDU2(module int, modules, numbers, names, states []gosnmp.SnmpPDU, max int) ([]outletRow, error) {
	cols := [4]map[int]gosnmp.SnmpPDU{}
	for i, c := range []struct {
		name string
		vars []gosnmp.SnmpPDU
	}{{apcmib.RPDU2StatusModule, modules}, {apcmib.RPDU2StatusNumber, numbers}, {apcmib.RPDU2StatusName, names}, {apcmib.RPDU2StatusState, states}} {
		m, err := column(c.name, c.vars, max)
		if err != nil {
			return nil, err
		}
		cols[i] = m
	}
	mods, nums, nms, sts := cols[0], cols[1], cols[2], cols[3]
	rows := make([]outletRow, 0, len(sts))
	seen := map[int]bool{}
	for idx, sv := range sts {
		if mv, ok := mods[idx]; ok {
			m, err := intValue(mv, "outlet module")
			if err != nil {
				return nil, err
			}
			if m != module {
				continue
			}
		}
		num := idx
		if nv, ok := nums[idx]; ok {
			n, err := intValue(nv, "outlet number")
			if err != nil {
				return nil, err
			}
			if n <= 0 {
				return nil, power.Errorf(power.CodeBadResponse, "the device reports an invalid outlet number")
			}
			num = n
		}
		if seen[num] {
			return nil, power.Errorf(power.CodeBadResponse, "the device reports outlet %d twice", num)
		}
		seen[num] = true
		s, err := rpdu2State(sv)
		if err != nil {
			return nil, err
		}
		name, _ := textValue(nms[idx])
		rows = append(rows, outletRow{OutletState: power.OutletState{Outlet: strconv.Itoa(num), Name: name, State: s}, index: idx})
	}
	sortRows(rows)
	return rows, nil
}

func sortRows(rows []outletRow) {
	// Outlet keys are decimal numbers: sort numerically.
	slices.SortFunc(rows, func(a, b outletRow) int {
		x, _ := strconv.Atoi(a.Outlet)
		y, _ := strconv.Atoi(b.Outlet)
		return cmp.Compare(x, y)
	})
}

// single checks a Get answer for one OID: exactly one varbind, for oid.
func single(oid string, vars []gosnmp.SnmpPDU) (gosnmp.SnmpPDU, error) {
	if len(vars) != 1 {
		return gosnmp.SnmpPDU{}, power.Errorf(power.CodeBadResponse, "the device answered %d values for one object", len(vars))
	}
	if trimDot(vars[0].Name) != oid {
		return gosnmp.SnmpPDU{}, power.Errorf(power.CodeBadResponse, "the device answered another object than the one asked")
	}
	return vars[0], nil
}
