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
	id       string
	rec      int // index in Host.records
	stdout   []byte
	stderr   []byte
	exit     int
	done     chan struct{} // closed when the command has finished
	finished bool
	counted  bool // holds one of the in-flight slots
	// sentOut, sentErr: how much of stdout and stderr Receive answers
	// have carried (an answer fits in the client's MaxEnvelopeSize).
	sentOut, sentErr int
}

func (sh *shell) terminateAll() {
	for _, c := range sh.commands {
		c.finish(nil, nil, statusControlCExit)
	}
}

func (c *command) finish(stdout, stderr []byte, exit int) {
	if c.finished {
		return
	}
	c.stdout, c.stderr, c.exit = stdout, stderr, exit
	c.finished = true
	close(c.done)
}

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
		c.finish(nil, nil, statusControlCExit)
		h.releaseLocked(c)
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
	c := &command{id: newUUID(), done: make(chan struct{}), counted: true}
	h.inFlight++
	sh.commands[c.id] = c
	c.rec = len(h.records)
	h.records = append(h.records, CommandRecord{At: h.sim.now(), Shell: sh.id, CommandLine: line, ExitCode: -1})
	if !h.faults.Hang {
		res := h.executeLocked(line)
		h.records[c.rec].Args = res.args
		h.records[c.rec].ExitCode = res.exit
		c.finish(h.encodeOutput(sh, res.utf8, res.stdout), h.encodeOutput(sh, res.utf8, res.stderr), res.exit)
		for _, f := range res.after {
			f()
		}
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

// receive answers with the output once the command is done, or with a
// TimedOut fault after the request's OperationTimeout, as Windows does.
func (h *Host) receive(epoch, rctx context.Context, req *soapRequest) (int, []byte) {
	h.mu.Lock()
	_, c, f := h.lookupLocked(req)
	h.mu.Unlock()
	if f != nil {
		return h.faultResponse(req, *f)
	}
	t := time.NewTimer(req.timeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		return h.faultResponse(req, faultTimedOut)
	case <-epoch.Done():
		return h.faultResponse(req, faultTimedOut)
	case <-rctx.Done():
		return h.faultResponse(req, faultTimedOut)
	}
	h.mu.Lock()
	body, done := receiveOutputLocked(c, req.maxEnvelope)
	if done {
		h.releaseLocked(c)
	}
	h.mu.Unlock()
	return 200, envelope("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse", req.messageID, "", body)
}

func (h *Host) signal(req *soapRequest) (int, []byte) {
	h.mu.Lock()
	_, c, f := h.lookupLocked(req)
	if f == nil {
		c.finish(c.stdout, c.stderr, exitAfterSignal(c))
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
