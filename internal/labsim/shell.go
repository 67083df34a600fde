package labsim

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// maxInFlight is the Lab Station contract's limit of commands per station.
const maxInFlight = 2

type shell struct {
	id       string
	commands map[string]*command
	codepage int       // output encoding: 65001 (UTF-8), 437 or 850
	lastUsed time.Time // for HostOptions.IdleTimeout
}

type command struct {
	id  string
	rec int // index in Host.records
	// stdout and stderr hold the output so far (in the shell's code page),
	// sentOut and sentErr how much of it Receive answers have carried: a
	// Receive takes what is there, up to the client's MaxEnvelopeSize, so a
	// command that runs for a while (the session guard) streams its output
	// across several Receives.
	stdout           []byte
	stderr           []byte
	exit             int
	changed          chan struct{} // closed (and renewed) on new output; closed for good when finished
	finished         bool
	counted          bool // holds one of the in-flight slots
	sentOut, sentErr int
}

func newCommand() *command {
	return &command{id: newUUID(), changed: make(chan struct{}), counted: true}
}

func (sh *shell) terminateAll() {
	for _, c := range sh.commands {
		c.finish(statusControlCExit)
	}
}

// emit makes output available to the next Receive.
func (c *command) emit(stdout, stderr []byte) {
	if c.finished || len(stdout)+len(stderr) == 0 {
		return
	}
	c.stdout = append(c.stdout, stdout...)
	c.stderr = append(c.stderr, stderr...)
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *command) finish(exit int) {
	if c.finished {
		return
	}
	c.exit = exit
	c.finished = true
	close(c.changed)
}

// execRest is the part of a command that runs once wait (station time,
// scaled by HostOptions.TimeScale) has passed: run, under h.mu, appends the
// rest of the output, sets the exit code and may add after-effects.
type execRest struct {
	wait time.Duration
	run  func(res *execResult)
}

// runLocked executes line for c: the output and exit code at once, or, for
// a command that runs on (execResult.rest), the first output now and the
// rest when its time has passed, unless the command was ended before
// (Signal, shell deleted, host powered off).
func (h *Host) runLocked(sh *shell, c *command, line string) {
	res := h.executeLocked(line)
	h.records[c.rec].Args = res.args
	utf8 := res.utf8
	c.emit(h.encodeOutput(sh, utf8, res.stdout), h.encodeOutput(sh, utf8, res.stderr))
	if res.rest == nil {
		h.completeLocked(c, &res)
		return
	}
	rest, exit := res.rest, res.exit
	var gen uint64 // never bumped: only the sim's Close cancels the wait
	h.afterLocked(h.scaled(rest.wait), &gen, func() {
		if c.finished {
			return
		}
		more := execResult{exit: exit}
		rest.run(&more)
		if h.faults.GarbageOutput {
			more.stdout = nil // the garbage came with the first output
		}
		c.emit(h.encodeOutput(sh, utf8, more.stdout), h.encodeOutput(sh, utf8, more.stderr))
		h.completeLocked(c, &more)
	})
}

func (h *Host) completeLocked(c *command, res *execResult) {
	h.records[c.rec].ExitCode = res.exit
	c.finish(res.exit)
	for _, f := range res.after {
		f()
	}
}

// scaled turns a station duration into real time (HostOptions.TimeScale).
func (h *Host) scaled(d time.Duration) time.Duration {
	if h.timeScale <= 0 {
		return d
	}
	return time.Duration(float64(d) * h.timeScale)
}

// TimedOutReceives counts the Receives answered with the w:TimedOut fault
// (the command was still running at the request's OperationTimeout).
func (h *Host) TimedOutReceives() int64 { return h.timedOut.Load() }

// releaseLocked frees the command's in-flight slot.
func (h *Host) releaseLocked(c *command) {
	if c.counted {
		c.counted = false
		h.inFlight--
	}
}

// shellLocked returns the shell with this ID, unless it is unknown or
// has been idle for longer than IdleTimeout (then it is closed now, as
// Windows closes it), and marks it used.
func (h *Host) shellLocked(id string) (*shell, bool) {
	sh, ok := h.shells[id]
	if !ok {
		return nil, false
	}
	now := h.sim.now()
	if h.idleTimeout > 0 && now.Sub(sh.lastUsed) > h.idleTimeout {
		h.dropShellLocked(sh)
		return nil, false
	}
	sh.lastUsed = now
	return sh, true
}

// dropShellLocked ends the shell's commands, frees their slots and
// forgets the shell.
func (h *Host) dropShellLocked(sh *shell) {
	for _, c := range sh.commands {
		c.finish(statusControlCExit)
		h.releaseLocked(c)
		if h.records[c.rec].ExitCode == -1 {
			h.records[c.rec].ExitCode = c.exit
		}
	}
	delete(h.shells, sh.id)
}

// expireIdleLocked closes every shell idle for longer than IdleTimeout.
func (h *Host) expireIdleLocked() {
	for id := range h.shells {
		h.shellLocked(id)
	}
}

func (h *Host) createShell(req *soapRequest, https bool) (int, []byte) {
	h.mu.Lock()
	h.expireIdleLocked()
	if h.maxShells > 0 && len(h.shells) >= h.maxShells {
		h.mu.Unlock()
		return h.faultResponse(req, faultMaxShells(h.maxShells))
	}
	sh := &shell{id: newUUID(), commands: map[string]*command{}, codepage: h.oemCodePage, lastUsed: h.sim.now()}
	switch req.codepage {
	case "65001", "437", "850":
		sh.codepage, _ = strconv.Atoi(req.codepage)
	}
	h.shells[sh.id] = sh
	h.mu.Unlock()
	scheme, port := "http", h.httpPort
	if https {
		scheme, port = "https", h.httpsPort
	}
	body := `<x:ResourceCreated><a:Address>` + scheme + `://127.0.0.1:` + strconv.Itoa(port) + `/wsman</a:Address>` +
		`<a:ReferenceParameters><w:ResourceURI>` + uriShellCmd + `</w:ResourceURI><w:SelectorSet>` +
		`<w:Selector Name="ShellId">` + sh.id + `</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>` +
		`<rsp:Shell><rsp:ShellId>` + sh.id + `</rsp:ShellId><rsp:ResourceUri>` + uriShellCmd + `</rsp:ResourceUri>` +
		`<rsp:Owner>` + xmlEscape(h.computerName()+`\`+h.user) + `</rsp:Owner><rsp:InputStreams>stdin</rsp:InputStreams>` +
		`<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`
	return 200, envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", req.messageID, "", body)
}

func (h *Host) deleteShell(req *soapRequest) (int, []byte) {
	h.mu.Lock()
	sh, ok := h.shellLocked(req.shellID)
	if ok {
		h.dropShellLocked(sh)
	}
	h.mu.Unlock()
	if !ok {
		return h.faultResponse(req, faultNoShell(req.shellID))
	}
	return 200, envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", req.messageID, "", "")
}

func (h *Host) startCommand(req *soapRequest) (int, []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sh, ok := h.shellLocked(req.shellID)
	if !ok {
		return h.faultResponse(req, faultNoShell(req.shellID))
	}
	if h.inFlight >= maxInFlight {
		return h.faultResponse(req, faultQuota)
	}
	line := req.command
	if len(req.args) > 0 {
		line += " " + strings.Join(req.args, " ")
	}
	c := newCommand()
	h.inFlight++
	sh.commands[c.id] = c
	c.rec = len(h.records)
	h.records = append(h.records, CommandRecord{At: h.sim.now(), Shell: sh.id, CommandLine: line, ExitCode: -1})
	if !h.faults.Hang {
		h.runLocked(sh, c, line)
	} else {
		h.records[c.rec].Args, _ = h.parseLineLocked(line)
	}
	body := `<rsp:CommandResponse><rsp:CommandId>` + c.id + `</rsp:CommandId></rsp:CommandResponse>`
	return 200, envelope("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse", req.messageID, "", body)
}

func (h *Host) lookupLocked(req *soapRequest) (*shell, *command, *wsmanFault) {
	sh, ok := h.shellLocked(req.shellID)
	if !ok {
		f := faultNoShell(req.shellID)
		return nil, nil, &f
	}
	c, ok := sh.commands[req.commandID]
	if !ok {
		f := faultNoCommand(req.commandID)
		return sh, nil, &f
	}
	return sh, c, nil
}

// receive answers with the output there is (CommandState Running), or all
// of it with CommandState Done and the exit code once the command has
// finished; with neither by the request's OperationTimeout, it answers the
// w:TimedOut fault, as Windows does.
func (h *Host) receive(epoch, rctx context.Context, req *soapRequest) (int, []byte) {
	h.mu.Lock()
	_, c, f := h.lookupLocked(req)
	h.mu.Unlock()
	if f != nil {
		return h.faultResponse(req, *f)
	}
	t := time.NewTimer(req.timeout)
	defer t.Stop()
	for {
		h.mu.Lock()
		if c.finished || c.sentOut < len(c.stdout) || c.sentErr < len(c.stderr) {
			body, done := receiveOutputLocked(c, req.maxEnvelope)
			if done {
				h.releaseLocked(c)
			}
			h.mu.Unlock()
			return 200, envelope("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse", req.messageID, "", body)
		}
		changed := c.changed
		h.mu.Unlock()
		select {
		case <-changed:
			continue
		case <-t.C:
		case <-epoch.Done():
		case <-rctx.Done():
		}
		h.timedOut.Add(1)
		return h.faultResponse(req, faultTimedOut)
	}
}

func (h *Host) signal(req *soapRequest) (int, []byte) {
	h.mu.Lock()
	_, c, f := h.lookupLocked(req)
	if f == nil {
		c.finish(exitAfterSignal(c))
		h.releaseLocked(c)
		if h.records[c.rec].ExitCode == -1 {
			h.records[c.rec].ExitCode = c.exit
		}
	}
	h.mu.Unlock()
	if f != nil {
		return h.faultResponse(req, *f)
	}
	return 200, envelope("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SignalResponse", req.messageID, "",
		`<rsp:SignalResponse/>`)
}

func exitAfterSignal(c *command) int {
	if c.finished {
		return c.exit
	}
	return statusControlCExit
}

// send accepts stdin and drops it: no Lab Station command reads stdin.
func (h *Host) send(req *soapRequest) (int, []byte) {
	h.mu.Lock()
	_, _, f := h.lookupLocked(req)
	h.mu.Unlock()
	if f != nil {
		return h.faultResponse(req, *f)
	}
	return 200, envelope("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SendResponse", req.messageID, "",
		`<rsp:SendResponse/>`)
}
