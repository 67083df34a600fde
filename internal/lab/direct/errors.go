package direct

import (
	"context"
	"errors"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/wake"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// hostErr wraps err as the *lab.Error of op on h, with its kind.
func hostErr(op string, h hosts.Host, err error) error {
	return &lab.Error{Op: op, Host: h.Name, Kind: kindOf(err), Err: err}
}

// kindOf maps what Direct's parts return onto lab's kinds: a lab kind
// already (KindOf, so the diagnosis of an unreachable station wins over
// the bare winrm kind, and a policy refusal over everything), else the
// kind of the winrm, wake or labstation error.
func kindOf(err error) error {
	if k, ok := lab.KindOf(err); ok {
		return k
	}
	mapping := []struct{ from, to error }{
		{winrm.ErrCanceled, lab.ErrCanceled},
		{winrm.ErrTimeout, lab.ErrTimeout},
		{winrm.ErrUnauthorized, lab.ErrUnauthorized},
		{winrm.ErrAuthMethod, lab.ErrUnauthorized},
		{winrm.ErrKerberos, lab.ErrAuthService},
		{winrm.ErrCertificate, lab.ErrCertificate},
		{winrm.ErrUnreachable, lab.ErrUnreachable},
		{winrm.ErrQuota, lab.ErrBusy},
		{winrm.ErrArgument, lab.ErrArgument},
		{winrm.ErrConfig, lab.ErrConfig},
		{winrm.ErrEncryption, lab.ErrProtocol},
		{winrm.ErrProtocol, lab.ErrProtocol},
		{wake.ErrInvalidRequest, lab.ErrArgument},
		{wake.ErrICMPUnavailable, lab.ErrConfig},
		{errNoWaker, lab.ErrConfig},
		{labstation.ErrEmpty, lab.ErrRemote},
		{labstation.ErrTruncated, lab.ErrRemote},
		{labstation.ErrMalformed, lab.ErrRemote},
		{labstation.ErrNotObject, lab.ErrRemote},
		{labstation.ErrSchemaVersion, lab.ErrRemote},
		{labstation.ErrBadTimestamp, lab.ErrRemote},
		{context.Canceled, lab.ErrCanceled},
		{context.DeadlineExceeded, lab.ErrTimeout},
	}
	for _, m := range mapping {
		if errors.Is(err, m.from) {
			return m.to
		}
	}
	return lab.ErrProtocol
}
