package winrm

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	mzwinrm "github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// guardedTransport recovers a panic in Post: the decoding of station bytes
// there (HTTP body, unsealing) must not end the worker (issue 6: a 512-byte
// sealed answer with a zero signature length panicked inside ntlmssp).
type guardedTransport struct {
	mzwinrm.Transporter
	log *slog.Logger
}

// guardPanics wraps tr so that a panic in its Post becomes an ErrProtocol
// error and a log line.
func guardPanics(tr mzwinrm.Transporter, log *slog.Logger) mzwinrm.Transporter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &guardedTransport{Transporter: tr, log: log}
}

func (g *guardedTransport) Post(c *mzwinrm.Client, msg *soap.SoapMessage) (body string, err error) {
	defer func() {
		if r := recover(); r != nil {
			// The panic value and stack name code and offsets, never the
			// credentials (the transports hold them, nothing prints them).
			g.log.Error("winrm transport panic on a station answer", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			body, err = "", &kindError{kind: ErrProtocol, msg: fmt.Sprintf("malformed answer from the station (decoder panic: %v)", r)}
		}
	}()
	// Every decoding of the answer that Post does not do itself (the
	// Create, Command and Receive answers) is ours (answer.go), run under
	// parse's recover; masterzen parses none of them.
	return g.Transporter.Post(c, msg)
}
