package apcsnmp

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/gosnmp/gosnmp"

	"github.com/ops-worker/ops-worker/internal/power"
)

// session is one SNMP conversation; the driver's logic sees only these
// three operations (the decoders check what they answer).
type session interface {
	get(oids ...string) ([]gosnmp.SnmpPDU, error)
	set(oid string, value int) error
	walk(root string, max int) ([]gosnmp.SnmpPDU, error)
	close()
}

type gosnmpSession struct {
	d   *Driver
	ctx context.Context
	g   *gosnmp.GoSNMP
}

// open builds a gosnmp client for one call. A fresh one each time: a
// GoSNMP is not safe for concurrent use, and holding none keeps the
// secrets out of any long-lived value but the Driver's secrets.Secret.
func (d *Driver) open(ctx context.Context) (session, error) {
	g := &gosnmp.GoSNMP{
		Target:             d.cfg.Host,
		Port:               uint16(d.cfg.Port),
		Transport:          "udp",
		Version:            d.sec.version,
		Context:            ctx,
		Timeout:            d.cfg.Timeout,
		Retries:            d.cfg.Retries,
		MaxOids:            gosnmp.MaxOids,
		MaxRepetitions:     16,
		ExponentialTimeout: false,
	}
	if d.sec.version == gosnmp.Version3 {
		flags := gosnmp.NoAuthNoPriv
		if d.sec.auth != gosnmp.NoAuth {
			flags = gosnmp.AuthNoPriv
		}
		if d.sec.priv != gosnmp.NoPriv {
			flags = gosnmp.AuthPriv
		}
		g.SecurityModel = gosnmp.UserSecurityModel
		g.MsgFlags = flags
		g.ContextName = d.sec.context
		g.SecurityParameters = &gosnmp.UsmSecurityParameters{
			UserName:                 d.sec.user,
			AuthenticationProtocol:   d.sec.auth,
			AuthenticationPassphrase: d.sec.authPass.Reveal(),
			PrivacyProtocol:          d.sec.priv,
			PrivacyPassphrase:        d.sec.privPass.Reveal(),
		}
	} else {
		g.Community = d.sec.community.Reveal()
	}
	if err := g.Connect(); err != nil {
		return nil, d.mapErr(ctx, "connect", err)
	}
	if d.cfg.Dial != nil {
		// gosnmp dials in Connect (which also sets up its buffers); swap
		// its socket for the caller's conversation.
		c, err := d.cfg.Dial(ctx, "udp", net.JoinHostPort(d.cfg.Host, itoa(d.cfg.Port)))
		_ = g.Conn.Close()
		if err != nil {
			return nil, &power.Error{Code: power.CodeUnreachable, Message: "cannot open the SNMP conversation", Err: err}
		}
		g.Conn = c
	}
	return &gosnmpSession{d: d, ctx: ctx, g: g}, nil
}

func (s *gosnmpSession) close() { _ = s.g.Conn.Close() }

func (s *gosnmpSession) get(oids ...string) ([]gosnmp.SnmpPDU, error) {
	p, err := s.g.Get(oids)
	if err != nil {
		return nil, s.d.mapErr(s.ctx, "get", err)
	}
	if p.Error == gosnmp.NoSuchName && s.g.Version == gosnmp.Version1 {
		// v1 fails the whole request for one absent object: ask them one
		// by one and mark the absent as v2's noSuchObject.
		if len(oids) == 1 {
			return []gosnmp.SnmpPDU{{Name: "." + oids[0], Type: gosnmp.NoSuchObject}}, nil
		}
		var out []gosnmp.SnmpPDU
		for _, o := range oids {
			v, err := s.get(o)
			if err != nil {
				return nil, err
			}
			out = append(out, v...)
		}
		return out, nil
	}
	if p.Error != gosnmp.NoError {
		return nil, statusErr("read", p.Error)
	}
	return p.Variables, nil
}

func (s *gosnmpSession) set(oid string, value int) error {
	p, err := s.g.Set([]gosnmp.SnmpPDU{{Name: oid, Type: gosnmp.Integer, Value: value}})
	if err != nil {
		return s.d.mapErr(s.ctx, "set", err)
	}
	if p.Error != gosnmp.NoError {
		return statusErr("command", p.Error)
	}
	if len(p.Variables) != 1 || trimDot(p.Variables[0].Name) != oid {
		return power.Errorf(power.CodeBadResponse, "the device's answer to the command names another object")
	}
	return nil
}

var errTooMany = errors.New("too many rows")

func (s *gosnmpSession) walk(root string, max int) ([]gosnmp.SnmpPDU, error) {
	var out []gosnmp.SnmpPDU
	fn := func(v gosnmp.SnmpPDU) error {
		if !strings.HasPrefix(trimDot(v.Name), root+".") {
			return power.Errorf(power.CodeBadResponse, "the device answered an object outside the asked table")
		}
		if len(out) >= max {
			return errTooMany
		}
		out = append(out, v)
		return nil
	}
	var err error
	if s.g.Version == gosnmp.Version1 {
		err = s.g.Walk(root, fn)
	} else {
		err = s.g.BulkWalk(root, fn)
	}
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, errTooMany):
		return nil, power.Errorf(power.CodeBadResponse, "the device lists more than %d rows in a table", max)
	case power.CodeOf(err) != "":
		return nil, err
	}
	return nil, s.d.mapErr(s.ctx, "walk", err)
}

// statusErr maps an SNMP error-status of the agent's answer.
func statusErr(what string, st gosnmp.SNMPError) error {
	switch st {
	case gosnmp.NoAccess, gosnmp.AuthorizationError, gosnmp.NotWritable, gosnmp.ReadOnly:
		return power.Errorf(power.CodeAuth, "the device refused the %s (%s): the community or user may not write", what, st)
	case gosnmp.NoSuchName, gosnmp.NoCreation, gosnmp.InconsistentName:
		return power.Errorf(power.CodeOutletUnknown, "the device has no such object for the %s (%s)", what, st)
	}
	return power.Errorf(power.CodeBadResponse, "the device answered the %s with error %s", what, st)
}

// mapErr maps a gosnmp failure. Its messages hold no secret (gosnmp never
// prints a community or key), so the cause is kept for the log.
func (d *Driver) mapErr(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return &power.Error{Code: power.CodeUnreachable, Message: "the SNMP " + op + " was cancelled", Err: ctx.Err()}
	}
	v3 := d.sec.version == gosnmp.Version3
	switch {
	case errors.Is(err, gosnmp.ErrWrongDigest):
		return &power.Error{Code: power.CodeAuth, Message: "SNMPv3 authentication failed (wrong authentication key)", Err: err}
	case errors.Is(err, gosnmp.ErrUnknownUsername):
		return &power.Error{Code: power.CodeAuth, Message: "SNMPv3 user is unknown to the device", Err: err}
	case errors.Is(err, gosnmp.ErrDecryption):
		return &power.Error{Code: power.CodeAuth, Message: "SNMPv3 decryption failed (wrong privacy key)", Err: err}
	case errors.Is(err, gosnmp.ErrUnknownSecurityLevel):
		return &power.Error{Code: power.CodeAuth, Message: "SNMPv3 security level is not the user's", Err: err}
	case errors.Is(err, gosnmp.ErrNotInTimeWindow), errors.Is(err, gosnmp.ErrUnknownEngineID):
		return &power.Error{Code: power.CodeAuth, Message: "SNMPv3 engine synchronisation failed", Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &power.Error{Code: power.CodeUnreachable, Message: "the device refused SNMP (nothing listens on its port)", Err: err}
	case isTimeout(err):
		if v3 {
			// net-snmp drops what it cannot decrypt without a report.
			return &power.Error{Code: power.CodeUnreachable, Message: "no answer (unreachable, or a wrong SNMPv3 privacy key)", Err: err}
		}
		// v1/v2c agents stay silent on a wrong community.
		return &power.Error{Code: power.CodeUnreachable, Message: "no answer (wrong community or unreachable)", Err: err}
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		return &power.Error{Code: power.CodeUnreachable, Message: "cannot reach the device over SNMP", Err: err}
	}
	if v3 && strings.Contains(err.Error(), "not authentic") {
		// The agent's answer (a usmStats report for a wrong digest or an
		// unknown user) does not verify with our key.
		return &power.Error{Code: power.CodeAuth, Message: "SNMPv3 authentication failed (wrong user or authentication key)", Err: err}
	}
	if v3 && strings.Contains(err.Error(), "decrypt") {
		return &power.Error{Code: power.CodeAuth, Message: "SNMPv3 answer could not be decrypted (wrong privacy key)", Err: err}
	}
	return &power.Error{Code: power.CodeBadResponse, Message: "the device's SNMP answer is invalid", Err: err}
}

func isTimeout(err error) bool {
	if errors.Is(err, gosnmp.ErrMaxRetriesExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return strings.Contains(err.Error(), "timeout")
}

func itoa(n int) string { return strconv.Itoa(n) }
