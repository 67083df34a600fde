package apcsnmp

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/power/apcmib"
)

// The test binary doubles as snmpd's pass_persist helper: with
// APCSIM_PROFILE set it serves an APC PDU's outlet tables on stdin/stdout
// (net-snmp's pass_persist protocol) and keeps the outlets' state in
// memory, applying SETs. APCSIM_OUTLETS is the outlet count; APCSIM_FAULT
// "stuck" accepts commands but never changes a state (read-back
// mismatch), "wrongtype" answers states as strings.
func TestMain(m *testing.M) {
	if p := os.Getenv("APCSIM_PROFILE"); p != "" {
		n, _ := strconv.Atoi(os.Getenv("APCSIM_OUTLETS"))
		runSim(newSim(p, n, os.Getenv("APCSIM_FAULT")), os.Stdin, os.Stdout)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type simValue struct{ typ, val string }

type sim struct {
	mu      sync.Mutex
	profile string
	fault   string
	on      []bool // outlet i+1
}

func newSim(profile string, n int, fault string) *sim {
	if n <= 0 {
		n = 8
	}
	s := &sim{profile: profile, fault: fault, on: make([]bool, n)}
	for i := range s.on {
		s.on[i] = i%2 == 0 // 1, 3, 5... on
	}
	return s
}

// table is every object the simulator serves, sorted by OID.
func (s *sim) table() []struct {
	oid []int
	v   simValue
} {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]simValue{}
	state := func(on bool, onV, offV int) simValue {
		v := offV
		if on {
			v = onV
		}
		if s.fault == "wrongtype" {
			return simValue{"string", strconv.Itoa(v)}
		}
		return simValue{"integer", strconv.Itoa(v)}
	}
	if s.profile == ProfileLegacy {
		m[apcmib.LegacyModel] = simValue{"string", "AP7920B"}
		m[apcmib.LegacyFirmware] = simValue{"string", "v3.9.4"}
		m[apcmib.LegacyOutletCount] = simValue{"integer", strconv.Itoa(len(s.on))}
		for i, on := range s.on {
			idx := "." + strconv.Itoa(i+1)
			m[apcmib.LegacyOutletTable+".1"+idx] = simValue{"integer", strconv.Itoa(i + 1)}
			m[apcmib.LegacyOutletCtl+idx] = state(on, apcmib.LegacyOn, apcmib.LegacyOff)
			m[apcmib.LegacyOutletName+idx] = simValue{"string", fmt.Sprintf("Outlet %d", i+1)}
		}
	} else {
		m[apcmib.RPDU2IdentModel+".1"] = simValue{"string", "AP8959EU3"}
		m[apcmib.RPDU2IdentFirmware+".1"] = simValue{"string", "v6.5.6"}
		for i, on := range s.on {
			idx := "." + strconv.Itoa(i+1)
			m[apcmib.RPDU2StatusIndex+idx] = simValue{"integer", strconv.Itoa(i + 1)}
			m[apcmib.RPDU2StatusModule+idx] = simValue{"integer", "1"}
			m[apcmib.RPDU2StatusName+idx] = simValue{"string", fmt.Sprintf("Bench %d", i+1)}
			m[apcmib.RPDU2StatusNumber+idx] = simValue{"integer", strconv.Itoa(i + 1)}
			m[apcmib.RPDU2StatusState+idx] = state(on, apcmib.RPDU2StateOn, apcmib.RPDU2StateOff)
			m[apcmib.RPDU2ControlTable+".1"+idx] = simValue{"integer", strconv.Itoa(i + 1)}
			m[apcmib.RPDU2ControlCommand+idx] = simValue{"integer", "4"} // noCommand
		}
	}
	out := make([]struct {
		oid []int
		v   simValue
	}, 0, len(m))
	for k, v := range m {
		out = append(out, struct {
			oid []int
			v   simValue
		}{parseOID(k), v})
	}
	slices.SortFunc(out, func(a, b struct {
		oid []int
		v   simValue
	}) int {
		return slices.Compare(a.oid, b.oid)
	})
	return out
}

func parseOID(s string) []int {
	var o []int
	for _, p := range strings.Split(strings.Trim(s, "."), ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil
		}
		o = append(o, n)
	}
	return o
}

func oidString(o []int) string {
	var sb strings.Builder
	for _, n := range o {
		sb.WriteString("." + strconv.Itoa(n))
	}
	return sb.String()
}

// set applies a command; the answer is pass_persist's.
func (s *sim) set(oid, typ, val string) string {
	o := oidString(parseOID(oid))[1:]
	col, idxS, ok := cutLast(o)
	idx, err := strconv.Atoi(idxS)
	if !ok || err != nil {
		return "not-writable"
	}
	var cmdCol string
	if s.profile == ProfileLegacy {
		cmdCol = apcmib.LegacyOutletCtl
	} else {
		cmdCol = apcmib.RPDU2ControlCommand
	}
	if col != cmdCol {
		return "not-writable"
	}
	if typ != "integer" {
		return "wrong-type"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx < 1 || idx > len(s.on) {
		return "no-creation"
	}
	cmd, _ := strconv.Atoi(val)
	if s.fault == "stuck" {
		return "DONE"
	}
	switch cmd {
	case 1:
		s.on[idx-1] = true
	case 2:
		s.on[idx-1] = false
	case 3: // reboot: off now, on again after the "device's" reboot duration
		s.on[idx-1] = false
		time.AfterFunc(300*time.Millisecond, func() {
			s.mu.Lock()
			s.on[idx-1] = true
			s.mu.Unlock()
		})
	default:
		return "wrong-value"
	}
	return "DONE"
}

func cutLast(o string) (string, string, bool) {
	i := strings.LastIndexByte(o, '.')
	if i < 0 {
		return "", "", false
	}
	return o[:i], o[i+1:], true
}

func runSim(s *sim, in io.Reader, out io.Writer) {
	r := bufio.NewScanner(in)
	w := bufio.NewWriter(out)
	line := func() (string, bool) {
		if !r.Scan() {
			return "", false
		}
		return strings.TrimSpace(r.Text()), true
	}
	reply := func(lines ...string) {
		for _, l := range lines {
			w.WriteString(l + "\n")
		}
		w.Flush()
	}
	for {
		cmd, ok := line()
		if !ok {
			return
		}
		switch cmd {
		case "PING":
			reply("PONG")
		case "get", "getnext":
			oid, ok := line()
			if !ok {
				return
			}
			want := parseOID(oid)
			found := false
			for _, e := range s.table() {
				c := slices.Compare(e.oid, want)
				if (cmd == "get" && c == 0) || (cmd == "getnext" && c > 0) {
					reply(oidString(e.oid), e.v.typ, e.v.val)
					found = true
					break
				}
			}
			if !found {
				reply("NONE")
			}
		case "set":
			oid, ok1 := line()
			tv, ok2 := line()
			if !ok1 || !ok2 {
				return
			}
			typ, val, _ := strings.Cut(tv, " ")
			reply(s.set(oid, typ, val))
		case "":
		default:
			reply("NONE")
		}
	}
}
