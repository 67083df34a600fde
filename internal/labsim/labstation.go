package labsim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// optKind says how a LabStation.exe option is validated.
type optKind int

const (
	optFlag  optKind = iota // --name, no value
	optText                 // --name=text
	optSecs                 // --name=<non-negative integer>
	optYesNo                // --name=yes|no
)

type lsCommand struct {
	name       string
	opts       map[string]optKind
	positional int // how many positional arguments are allowed
	free       bool
}

var sessionOpts = map[string]optKind{"user": optText, "guard-grace": optSecs, "no-guard": optFlag, "guard-message": optText}

func lsCommands() map[string]lsCommand {
	release := map[string]optKind{"reboot": optFlag, "reboot-timeout": optSecs}
	for k, v := range sessionOpts {
		release[k] = v
	}
	power := map[string]optKind{"delay": optSecs, "reason": optText, "no-force": optFlag, "skip-wake-check": optFlag, "repair-wake": optYesNo, "require-wake": optFlag}
	return map[string]lsCommand{
		"prepare-session":           {name: "prepare-session", opts: sessionOpts},
		"release-session":           {name: "release-session", opts: release},
		"session guard":             {name: "session guard", opts: map[string]optKind{"grace": optSecs, "user": optText, "message": optText, "silent": optFlag}},
		"power shutdown":            {name: "power shutdown", opts: power},
		"power hibernate":           {name: "power hibernate", opts: power},
		"recovery reboot-if-needed": {name: "recovery reboot-if-needed", opts: map[string]optKind{"force": optFlag, "timeout": optSecs, "reason": optText}},
		"status-json":               {name: "status-json", positional: 1},
		"status":                    {name: "status", free: true},
		"energy audit":              {name: "energy audit", free: true},
		"account":                   {name: "account", free: true},
		"service":                   {name: "service", free: true},
		"wol":                       {name: "wol", free: true},
	}
}

const lsUsage = "Usage: LabStation.exe <command> [options]\r\nCommands: prepare-session, release-session, session guard, power shutdown|hibernate, recovery reboot-if-needed, status-json [path], status, energy audit, account, service, wol\r\n"

// labStationLocked emulates C:\LabStation\LabStation.exe (LABSTATION.md).
func (h *Host) labStationLocked(args []string, res *execResult) {
	fail := func(code int, msg string) {
		res.exit = code
		res.stderr = []byte("ERROR: " + msg + "\r\n" + lsUsage)
	}
	rest := args[1:]
	if len(rest) == 0 {
		fail(2, "no command given")
		return
	}
	cmds := lsCommands()
	var spec lsCommand
	var ok bool
	n := 1
	if len(rest) >= 2 {
		spec, ok = cmds[strings.ToLower(rest[0]+" "+rest[1])]
		n = 2
	}
	if !ok {
		spec, ok = cmds[strings.ToLower(rest[0])]
		n = 1
	}
	if !ok {
		if first := strings.ToLower(rest[0]); first == "power" || first == "session" || first == "recovery" || first == "energy" {
			fail(2, fmt.Sprintf("unknown or missing subcommand for '%s'", rest[0]))
			return
		}
		fail(2, fmt.Sprintf("unknown command '%s'", rest[0]))
		return
	}
	opts := map[string]string{}
	var positional []string
	if !spec.free {
		for _, a := range rest[n:] {
			if !strings.HasPrefix(a, "--") {
				positional = append(positional, a)
				continue
			}
			name, val, hasVal := strings.Cut(a[2:], "=")
			kind, known := spec.opts[strings.ToLower(name)]
			name = strings.ToLower(name)
			switch {
			case !known:
				fail(2, fmt.Sprintf("unknown option '--%s' for '%s'", name, spec.name))
				return
			case kind == optFlag && hasVal:
				fail(2, fmt.Sprintf("option '--%s' takes no value", name))
				return
			case kind != optFlag && !hasVal:
				fail(2, fmt.Sprintf("option '--%s' needs a value (--%s=<value>)", name, name))
				return
			case kind == optSecs:
				if v, err := strconv.Atoi(val); err != nil || v < 0 {
					fail(2, fmt.Sprintf("option '--%s' needs a number of seconds, got '%s'", name, val))
					return
				}
			case kind == optYesNo && val != "yes" && val != "no":
				fail(2, fmt.Sprintf("option '--%s' must be yes or no, got '%s'", name, val))
				return
			}
			opts[name] = val
		}
		if len(positional) > spec.positional {
			fail(2, fmt.Sprintf("unexpected argument '%s' for '%s'", positional[spec.positional], spec.name))
			return
		}
	}
	forced, hasForced := h.faults.ExitCodes[spec.name]
	if !hasForced {
		forced, hasForced = h.faults.ExitCodes[strings.Fields(spec.name)[0]]
	}
	if hasForced && forced >= 2 {
		res.exit = forced
		res.stderr = []byte(fmt.Sprintf("ERROR: %s failed (simulated exit code %d)\r\n", spec.name, forced))
		return
	}

	var out strings.Builder
	now := h.sim.now().UTC()
	say := func(format string, a ...any) { fmt.Fprintf(&out, format+"\r\n", a...) }
	say("[%s] LabStation %s", now.Format(time.RFC3339), spec.name)
	if extra, ok := h.faults.Output[spec.name]; ok {
		out.WriteString(extra)
	} else {
		out.WriteString(h.faults.Output[strings.Fields(spec.name)[0]])
	}
	secs := func(name string, def int) int {
		if v, ok := opts[name]; ok {
			n, _ := strconv.Atoi(v)
			return n
		}
		return def
	}
	has := func(name string) bool { _, ok := opts[name]; return ok }
	labUser := opts["user"]
	if labUser == "" {
		labUser = "labuser"
	}

	// With a local user signed in, the session guard warns now and evicts
	// after the grace period: evict and tail then run when it has passed.
	var evict func()
	var tail func(res *execResult)
	grace := 0
	switch spec.name {
	case "prepare-session", "release-session":
		if has("no-guard") {
			say("Session guard: skipped (--no-guard).")
		} else {
			grace = secs("guard-grace", 90)
			evict = h.guardLocked(grace, opts["guard-message"], &out)
		}
		tail = func(res *execResult) {
			say("Lab app controller closed.")
			if h.state.profileMissing {
				res.exit = 1
				say("WARNING: profile folder C:\\Users\\%s not found; temp files not wiped.", labUser)
			} else if spec.name == "prepare-session" {
				say("Temp files of %s wiped.", labUser)
			} else {
				say("User %s logged off.", labUser)
			}
			if spec.name == "release-session" && has("reboot") {
				say("Reboot scheduled (timeout %d s).", secs("reboot-timeout", 15))
				h.state.lastPowerAction = map[string]any{"timestamp": now.Format(time.RFC3339), "mode": "reboot"}
				res.after = append(res.after, func() { h.schedulePowerLocked(powerGrace, true) })
			}
		}
	case "session guard":
		if has("silent") {
			opts["message"] = ""
		}
		grace = secs("grace", 90)
		evict = h.guardLocked(grace, opts["message"], &out)
	case "power shutdown", "power hibernate":
		mode := strings.Fields(spec.name)[1]
		if !has("skip-wake-check") {
			say("Wake-on-LAN readiness: OK (1 armed device: Intel(R) Ethernet Connection I219-LM).")
		}
		delay := secs("delay", 0)
		reason := opts["reason"]
		if reason == "" {
			reason = "(none)"
		}
		say("Scheduled %s in %d s. Reason: %s", mode, delay, reason)
		h.state.lastPowerAction = map[string]any{"timestamp": now.Format(time.RFC3339), "mode": mode}
		d := time.Duration(delay) * time.Second
		d = max(d, powerGrace, h.powerOffDelay)
		res.after = append(res.after, func() { h.schedulePowerLocked(d, false) })
	case "recovery reboot-if-needed":
		if has("force") {
			say("Forced reboot scheduled (timeout %d s).", secs("timeout", 20))
			h.state.lastPowerAction = map[string]any{"timestamp": now.Format(time.RFC3339), "mode": "reboot"}
			res.after = append(res.after, func() { h.schedulePowerLocked(powerGrace, true) })
		} else {
			say("Station healthy; no reboot needed.")
		}
	case "status-json":
		doc := h.statusLocked()
		if len(positional) == 1 {
			p := positional[0]
			if len(p) < 3 || p[1] != ':' || (p[2] != '\\' && p[2] != '/') {
				fail(2, fmt.Sprintf("status-json needs an absolute path, got '%s'", p))
				return
			}
			h.files[normPath(p)] = doc
			say("Status written to %s", p)
		} else {
			out.Reset()
			out.Write(doc)
		}
	case "status":
		var st map[string]any
		_ = json.Unmarshal(h.statusLocked(), &st)
		say("Host: %s", h.computerName())
		say("Ready: %v", h.state.localUser == "")
		say("Local session active: %v", h.state.localUser != "")
	default:
		say("%s: nothing to do.", spec.name)
	}
	finish := func(res *execResult) {
		if tail != nil {
			tail(res)
		}
		if hasForced {
			res.exit = forced
		}
	}
	if evict == nil {
		finish(res)
		res.stdout = []byte(out.String())
		return
	}
	res.stdout = []byte(out.String())
	sent := out.Len()
	res.rest = &execRest{wait: time.Duration(grace) * time.Second, run: func(more *execResult) {
		now = h.sim.now().UTC()
		evict()
		finish(more)
		more.stdout = []byte(out.String()[sent:])
	}}
}

// powerGrace is the least time between a power command and the power
// action, so that the WinRM exchange that carried the command can finish.
const powerGrace = 300 * time.Millisecond

// guardLocked runs the session guard. With nobody at the console it says
// so and returns nil. With a local user it notifies them (a warn line in the
// events log) and returns the eviction, which the command runs once the
// grace period has passed: the logoff line, lastForcedLogoff, and the user
// signed out.
func (h *Host) guardLocked(grace int, message string, out *strings.Builder) (evict func()) {
	if h.state.localUser == "" {
		fmt.Fprintf(out, "Session guard: no local session to evict.\r\n")
		return nil
	}
	if message == "" {
		message = "A remote reservation starts soon"
	}
	user := h.computerName() + `\` + h.state.localUser
	event := func(fields map[string]any) {
		fields["timestamp"] = h.sim.now().UTC().Format(time.RFC3339)
		fields["user"], fields["session"], fields["graceSeconds"] = user, "console", grace
		line, _ := json.Marshal(fields)
		h.state.events = append(h.state.events, string(line))
	}
	event(map[string]any{"action": "warn", "message": message})
	fmt.Fprintf(out, "Session guard: notified %s: %s. Forced logoff in %d s.\r\n", user, message, grace)
	return func() {
		if h.computerName()+`\`+h.state.localUser != user {
			fmt.Fprintf(out, "Session guard: %s signed out during the grace period.\r\n", user)
			return
		}
		event(map[string]any{"action": "logoff", "result": "forced"})
		h.state.lastForcedLogoff = map[string]any{"timestamp": h.sim.now().UTC().Format(time.RFC3339), "user": user}
		h.state.localUser = ""
		fmt.Fprintf(out, "Session guard: logged off %s after %d s grace.\r\n", user, grace)
	}
}
