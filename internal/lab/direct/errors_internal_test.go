package direct

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// quoteErr is quotePS's refusal of s.
func quoteErr(s string) error {
	_, err := quotePS(s)
	return err
}

func TestKindOf(t *testing.T) {
	werr := func(kind error) error {
		return &winrm.Error{Op: "run", Host: "h:5986", Kind: kind, Err: errors.New("cause")}
	}
	cases := []struct {
		err  error
		want error
	}{
		{werr(winrm.ErrUnauthorized), lab.ErrUnauthorized},
		{werr(winrm.ErrAuthMethod), lab.ErrUnauthorized},
		{werr(winrm.ErrKerberos), lab.ErrAuthService},
		{werr(winrm.ErrCertificate), lab.ErrCertificate},
		{werr(winrm.ErrUnreachable), lab.ErrUnreachable},
		{fmt.Errorf("%w: %w", lab.ErrHostDown, werr(winrm.ErrUnreachable)), lab.ErrHostDown},
		{fmt.Errorf("%w: %w", lab.ErrWinRMClosed, werr(winrm.ErrUnreachable)), lab.ErrWinRMClosed},
		{werr(winrm.ErrTimeout), lab.ErrTimeout},
		{werr(winrm.ErrCanceled), lab.ErrCanceled},
		{quoteErr("a\nb"), lab.ErrArgument},
		{&labstation.ArgError{Part: "arg", Reason: "x"}, lab.ErrArgument},
		{werr(winrm.ErrConfig), lab.ErrConfig},
		{werr(winrm.ErrEncryption), lab.ErrProtocol},
		{werr(winrm.ErrProtocol), lab.ErrProtocol},
		{werr(winrm.ErrQuota), lab.ErrBusy},
		{werr(winrm.ErrArgument), lab.ErrArgument},
		{fmt.Errorf("%w: reading the heartbeat failed (exit code 1)", lab.ErrRemote), lab.ErrRemote},
		{fmt.Errorf("parse: %w", labstation.ErrSchemaVersion), lab.ErrRemote},
		{&lab.PolicyError{Field: "port", Reason: "x"}, lab.ErrPolicy},
		{labstation.ErrCommandNotAllowed, lab.ErrCommandNotAllowed},
		{lab.ErrMACRequired, lab.ErrMACRequired},
		{errNoWaker, lab.ErrConfig},
		{context.Canceled, lab.ErrCanceled},
		{errors.New("anything else"), lab.ErrProtocol},
	}
	for _, c := range cases {
		got := hostErr("op", hosts.Host{Name: "lab-ws-01"}, c.err)
		var le *lab.Error
		if !errors.As(got, &le) || le.Kind != c.want || !errors.Is(got, c.want) {
			t.Errorf("%v: kind %v, want %v", c.err, le.Kind, c.want)
		}
		if !errors.Is(got, c.err) {
			t.Errorf("%v: cause lost", c.err)
		}
		// Wrapping twice keeps the first kind.
		if again := hostErr("op2", hosts.Host{Name: "x"}, got); kindOf(again) != c.want {
			t.Errorf("%v: rewrapped kind %v", c.err, kindOf(again))
		}
	}
}
