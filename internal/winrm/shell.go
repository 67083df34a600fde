package winrm

import (
	"context"
	"fmt"
	"strings"
	"time"

	mzwinrm "github.com/masterzen/winrm"
)

// call runs one command on the call's connection, which is closed when
// ctx ends: that is what stops masterzen's context-less calls at once.
func (c *Client) call(ctx context.Context, t Target, tlsSet *tlsSetup, commandLine string) (res Result, st receiveStats, shellID string, err error) {
	err = c.withClient(ctx, t, tlsSet, func(client *mzwinrm.Client, tr mzwinrm.Transporter) error {
		var runErr error
		res, st, shellID, runErr = c.runShell(ctx, t, client, tr, commandLine)
		return runErr
	})
	return res, st, shellID, err
}

func (c *Client) deleteShell(parent context.Context, t Target, tlsSet *tlsSetup, shellID string) {
	ctx, cancel := context.WithTimeout(parent, c.cfg.DialTimeout+c.cfg.ReadTimeout)
	defer cancel()
	err := c.withClient(ctx, t, tlsSet, func(client *mzwinrm.Client, _ mzwinrm.Transporter) error {
		return client.NewShell(shellID).Close()
	})
	if err != nil {
		c.cfg.Logger.Debug("winrm delete abandoned shell", "host", t.String(), "err", err.Error())
	}
}

// runShell creates a shell, runs the command, collects its output and
// deletes the shell. On failure it returns the shell ID when the shell is
// still to be deleted (exec does it in the background).
func (c *Client) runShell(ctx context.Context, t Target, client *mzwinrm.Client, tr mzwinrm.Transporter, commandLine string) (Result, receiveStats, string, error) {
	// Every step by hand with masterzen's exported request builders and
	// parsers: CreateShell to learn the shell ID (masterzen keeps it
	// unexported), Command to keep masterzen's receive loop from starting
	// (see receive).
	params := client.Parameters
	url := t.url()
	req := mzwinrm.NewOpenShellRequest(url, &params)
	resp, err := tr.Post(client, req)
	req.Free()
	if err != nil {
		return Result{}, receiveStats{}, "", fmt.Errorf("create shell: %w", err)
	}
	var shellID string
	err = parse(func() (err error) { shellID, err = parseShellID(resp); return err })
	if err != nil || shellID == "" {
		return Result{}, receiveStats{}, "", &kindError{kind: ErrProtocol, msg: fmt.Sprintf("create shell: no shell ID in answer (%v)", err)}
	}
	req = mzwinrm.NewExecuteCommandRequest(url, shellID, commandLine, nil, &params)
	resp, err = tr.Post(client, req)
	req.Free()
	if err != nil {
		return Result{}, receiveStats{}, shellID, fmt.Errorf("execute: %w", faultError(err))
	}
	var commandID string
	err = parse(func() (err error) { commandID, err = parseCommandID(resp); return err })
	if err != nil || commandID == "" {
		return Result{}, receiveStats{}, shellID, &kindError{kind: ErrProtocol, msg: fmt.Sprintf("execute: no command ID in answer (%v)", err)}
	}
	res, st, err := c.receive(ctx, client, tr, url, shellID, commandID)
	if err != nil {
		return res, st, shellID, fmt.Errorf("receive output: %w", err)
	}
	c.closeShell(t, client.NewShell(shellID))
	return res, st, "", nil
}

// receiveStats counts the Receives of one command and how many of them
// ended in the OperationTimeout fault.
type receiveStats struct{ receives, timeouts int }

// timedOutPause is the least time between a Receive answered with the
// OperationTimeout fault and the next one, so a station that answered it
// at once (Windows waits the OperationTimeout) does not make us spin.
const timedOutPause = 100 * time.Millisecond

// receive issues Receive requests until the command is Done, ctx ends (the
// command deadline or the caller) or a request fails.
//
// masterzen's own loop (Command, fetchOutput) is not used: it recognises
// the OperationTimeout fault by the substring "OperationTimeout" anywhere
// in the error text, also takes any *url.Error timeout as "still running"
// (so a station that stops answering is polled back to back until our
// deadline), turns a dropped connection into exit code 16001, feeds the
// output through pipes that need two draining goroutines, and sends a
// Signal on cancellation over connections we have already closed. Here
// the fault is recognised by its WS-Management code (2150858793) or
// subcode (w:TimedOut); any other failure ends the command with its own
// kind (a dropped connection is ErrUnreachable, a station silent past
// ReadTimeout ErrTimeout, another fault ErrProtocol), and output goes
// straight into the capped buffers.
func (c *Client) receive(ctx context.Context, client *mzwinrm.Client, tr mzwinrm.Transporter, url, shellID, commandID string) (Result, receiveStats, error) {
	params := client.Parameters
	stdout := &capBuffer{max: c.cfg.MaxOutput}
	stderr := &capBuffer{max: c.cfg.MaxOutput}
	result := func(exit int) Result {
		return Result{ExitCode: exit, Stdout: stdout.String(), Stderr: stderr.String(),
			Truncated: stdout.truncated || stderr.truncated}
	}
	var st receiveStats
	for {
		if err := ctx.Err(); err != nil {
			return result(0), st, err
		}
		st.receives++
		sent := time.Now()
		req := mzwinrm.NewGetOutputRequest(url, shellID, commandID, "stdout stderr", &params)
		resp, err := tr.Post(client, req)
		req.Free()
		if err != nil {
			if !isOperationTimeout(err) {
				return result(0), st, faultError(err)
			}
			st.timeouts++
			if wait := timedOutPause - time.Since(sent); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
				}
			}
			continue
		}
		if !strings.Contains(resp, "ReceiveResponse") {
			return result(0), st, &kindError{kind: ErrProtocol, msg: "answer to Receive is not a ReceiveResponse"}
		}
		var done bool
		var exit int
		err = parse(func() (err error) { done, exit, err = parseReceive(resp, stdout, stderr); return err })
		if err != nil {
			return result(0), st, &kindError{kind: ErrProtocol, msg: "parse Receive answer: " + err.Error()}
		}
		if done {
			return result(exit), st, nil
		}
	}
}

func (c *Client) closeShell(t Target, shell *mzwinrm.Shell) {
	if err := shell.Close(); err != nil {
		c.cfg.Logger.Debug("winrm delete shell", "host", t.String(), "err", err.Error())
	}
}

// parse runs a decoder of station bytes, a panic in it (there should be
// none) turned into an error rather than the end of the worker.
func parse(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return fn()
}

// capBuffer keeps the first max bytes and drops the rest, still reading it.
type capBuffer struct {
	b         []byte
	max       int
	truncated bool
}

func (c *capBuffer) Write(p []byte) (int, error) {
	room := c.max - len(c.b)
	if room < len(p) {
		c.truncated = true
		if room > 0 {
			c.b = append(c.b, p[:room]...)
		}
		return len(p), nil
	}
	c.b = append(c.b, p...)
	return len(p), nil
}

func (c *capBuffer) String() string { return string(c.b) }
