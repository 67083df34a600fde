package lab

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ops-worker/ops-worker/internal/hosts"
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
		{werr(winrm.ErrUnauthorized), ErrUnauthorized},
		{werr(winrm.ErrAuthMethod), ErrUnauthorized},
		{werr(winrm.ErrKerberos), ErrAuthService},
		{werr(winrm.ErrCertificate), ErrCertificate},
		{werr(winrm.ErrUnreachable), ErrUnreachable},
		{fmt.Errorf("%w: %w", ErrHostDown, werr(winrm.ErrUnreachable)), ErrHostDown},
		{fmt.Errorf("%w: %w", ErrWinRMClosed, werr(winrm.ErrUnreachable)), ErrWinRMClosed},
		{werr(winrm.ErrTimeout), ErrTimeout},
		{werr(winrm.ErrCanceled), ErrCanceled},
		{quoteErr("a\nb"), ErrArgument},
		{&labstation.ArgError{Part: "arg", Reason: "x"}, ErrArgument},
		{werr(winrm.ErrConfig), ErrConfig},
		{werr(winrm.ErrEncryption), ErrProtocol},
		{werr(winrm.ErrProtocol), ErrProtocol},
		{werr(winrm.ErrQuota), ErrBusy},
		{werr(winrm.ErrArgument), ErrArgument},
		{fmt.Errorf("%w: reading the heartbeat failed (exit code 1)", ErrRemote), ErrRemote},
		{fmt.Errorf("parse: %w", labstation.ErrSchemaVersion), ErrRemote},
		{&PolicyError{Field: "port", Reason: "x"}, ErrPolicy},
		{labstation.ErrCommandNotAllowed, ErrCommandNotAllowed},
		{ErrMACRequired, ErrMACRequired},
		{errNoWaker, ErrConfig},
		{context.Canceled, ErrCanceled},
		{errors.New("anything else"), ErrProtocol},
	}
	for _, c := range cases {
		got := hostErr("op", hosts.Host{Name: "lab-ws-01"}, c.err)
		var le *Error
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
