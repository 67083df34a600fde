package labsim

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// maxInFlight is the Lab Station contract's limit of commands per station.
const maxInFlight = 2

type shell struct {
	id       string
	commands map[string]*command
}

type command struct {
	id  string
	rec int // index in Host.records
	// stdout and stderr hold the output not yet received: a Receive takes
	// what is there, so a command that runs for a while (the session guard)
	// streams its output across several Receives.
	stdout   []byte
	stderr   []byte
	exit     int
	changed  chan struct{} // closed (and renewed) on new output; closed for good when finished
	finished bool
	counted  bool // holds one of the in-flight slots
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
func (h *Host) runLocked(c *command, line string) {
	res := h.executeLocked(line)
	h.records[c.rec].Args = res.args
	c.emit(res.stdout, res.stderr)
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
		c.emit(more.stdout, more.stderr)
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

func (h *Host) createShell(req *soapRequest, https bool) (int, []byte) {
	h.mu.Lock()
	sh := &shell{id: newUUID(), commands: map[string]*command{}}
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
	sh, ok := h.shells[req.shellID]
	if ok {
		for _, c := range sh.commands {
			c.finish(statusControlCExit)
			h.releaseLocked(c)
			if h.records[c.rec].ExitCode == -1 {
				h.records[c.rec].ExitCode = c.exit
			}
		}
		delete(h.shells, req.shellID)
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
	sh, ok := h.shells[req.shellID]
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
		h.runLocked(c, line)
	} else {
		h.records[c.rec].Args, _ = h.parseLineLocked(line)
	}
	body := `<rsp:CommandResponse><rsp:CommandId>` + c.id + `</rsp:CommandId></rsp:CommandResponse>`
	return 200, envelope("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse", req.messageID, "", body)
}

func (h *Host) lookupLocked(req *soapRequest) (*shell, *command, *wsmanFault) {
	sh, ok := h.shells[req.shellID]
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
		if c.finished || len(c.stdout) > 0 || len(c.stderr) > 0 {
			stdout, stderr, exit, done := c.stdout, c.stderr, c.exit, c.finished
			c.stdout, c.stderr = nil, nil
			if done {
				h.releaseLocked(c)
			}
			h.mu.Unlock()
			return 200, envelope("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse", req.messageID, "",
				receiveBody(c.id, stdout, stderr, done, exit))
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

// receiveBody is a ReceiveResponse: the streams end (End="true") and the
// exit code comes only with CommandState Done.
func receiveBody(id string, stdout, stderr []byte, done bool, exit int) string {
	if done {
		return `<rsp:ReceiveResponse>` + streamXML("stdout", id, stdout) + streamXML("stderr", id, stderr) +
			`<rsp:CommandState CommandId="` + id + `" State="` + stateDone + `"><rsp:ExitCode>` +
			strconv.Itoa(exit) + `</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>`
	}
	var b strings.Builder
	b.WriteString(`<rsp:ReceiveResponse>`)
	for _, s := range []struct {
		name string
		data []byte
	}{{"stdout", stdout}, {"stderr", stderr}} {
		if len(s.data) > 0 {
			b.WriteString(`<rsp:Stream Name="` + s.name + `" CommandId="` + id + `">` + base64.StdEncoding.EncodeToString(s.data) + `</rsp:Stream>`)
		}
	}
	b.WriteString(`<rsp:CommandState CommandId="` + id + `" State="` + stateRun + `"/></rsp:ReceiveResponse>`)
	return b.String()
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
