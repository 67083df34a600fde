package ops_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// errLab fails every call with err (error mapping only).
type errLab struct{ err error }

func (l errLab) Wake(context.Context, hosts.Host, lab.WakeOptions) (lab.WakeResult, error) {
	return lab.WakeResult{}, l.err
}
func (l errLab) Reachable(context.Context, hosts.Host, time.Duration) (string, error) {
	return "", l.err
}
func (l errLab) RunCommand(context.Context, hosts.Host, string, []string, lab.CommandOptions) (lab.CommandResult, error) {
	return lab.CommandResult{}, l.err
}
func (l errLab) ReadHeartbeat(context.Context, hosts.Host, bool) (lab.HeartbeatRead, error) {
	return lab.HeartbeatRead{}, l.err
}
func (l errLab) SetLocalMode(context.Context, hosts.Host, bool) error { return l.err }

func TestLabErrorMapping(t *testing.T) {
	t.Parallel()
	const secret = "S3cret-pass"
	cat, _, err := hosts.Parse([]byte(`{"hosts":[{"name":"lab-ws-01","address":"10.0.0.1","mac":"02:00:00:00:00:01","winrm_pass":"`+secret+`","labs":["1"]}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	cause := fmt.Errorf("station said %s and \x00 bytes", secret)
	for kind, code := range map[error]ops.Code{
		lab.ErrHostDown:          ops.CodeHostUnreachable,
		lab.ErrWinRMClosed:       ops.CodeHostUnreachable,
		lab.ErrUnreachable:       ops.CodeHostUnreachable,
		lab.ErrUnauthorized:      ops.CodeStationError,
		lab.ErrAuthService:       ops.CodeStationError,
		lab.ErrCertificate:       ops.CodeStationError,
		lab.ErrProtocol:          ops.CodeStationError,
		lab.ErrRemote:            ops.CodeStationError,
		lab.ErrBusy:              ops.CodeStationError,
		lab.ErrTimeout:           ops.CodeTimeout,
		lab.ErrCanceled:          ops.CodeTimeout,
		lab.ErrArgument:          ops.CodeArgumentRefused,
		lab.ErrCommandNotAllowed: ops.CodeCommandNotAllowed,
		lab.ErrMACRequired:       ops.CodeBadRequest,
		lab.ErrConfig:            ops.CodeConfigInvalid,
		lab.ErrPolicy:            ops.CodePolicyRefused,
		lab.ErrRelayUnreachable:  ops.CodeRelayUnreachable,
	} {
		s := &ops.Service{Registry: hosts.NewStaticRegistry(cat),
			Lab: errLab{&lab.Error{Op: "run command", Host: "lab-ws-01", Kind: kind, Err: cause}}}
		_, err := s.RunCommand(context.Background(), ops.CommandRequest{Host: "lab-ws-01", Command: "status"})
		e, ok := ops.AsError(err)
		if !ok || e.Code != code {
			t.Errorf("%v: err = %v, want code %s", kind, err, code)
			continue
		}
		if strings.Contains(e.Message, secret) || strings.Contains(e.Message, "station said") {
			t.Errorf("%v: message %q carries the cause", kind, e.Message)
		}
		if !errors.Is(err, kind) {
			t.Errorf("%v: the cause is lost for the log", kind)
		}
		if code == ops.CodeHostUnreachable && !strings.Contains(e.Message, "lab-ws-01") {
			t.Errorf("%v: message %q does not name the host", kind, e.Message)
		}
	}
	// Typed causes give their own (secret-free) message.
	s := &ops.Service{Registry: hosts.NewStaticRegistry(cat), Lab: errLab{&lab.Error{Kind: lab.ErrPolicy,
		Err: &lab.PolicyError{Field: "transport", Reason: "basic is weaker than ntlm"}}}}
	_, err = s.RunCommand(context.Background(), ops.CommandRequest{Host: "lab-ws-01", Command: "status"})
	wantCode(t, err, ops.CodePolicyRefused, "override refused: transport: basic is weaker than ntlm")
	s.Lab = errLab{&lab.Error{Kind: lab.ErrCommandNotAllowed, Err: &labstation.NotAllowedError{Command: "x"}}}
	_, err = s.RunCommand(context.Background(), ops.CommandRequest{Host: "lab-ws-01", Command: "status"})
	wantCode(t, err, ops.CodeCommandNotAllowed, "command 'x' not allowed")
	s.Lab = errLab{&lab.Error{Kind: lab.ErrHostDown}}
	_, err = s.Wake(context.Background(), ops.WakeRequest{Host: "lab-ws-01"})
	wantCode(t, err, ops.CodeHostUnreachable, "host 'lab-ws-01' not answering: wake it first")
	_, err = s.PollHeartbeat(context.Background(), ops.PollRequest{Host: "lab-ws-01"})
	wantCode(t, err, ops.CodeHostUnreachable, "host 'lab-ws-01' not answering: wake it first")
}
