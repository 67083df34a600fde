// Package credlab provides a lab.Lab that fills a host's WinRM account
// from the credential store when the catalog gives none, so a station
// added from the page needs no password in any process's environment.
package credlab

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/secrets"
)

// Resolver answers a credential reference's stored WinRM account
// (credentials.Service.WinRM); found false when none is stored.
type Resolver interface {
	WinRM(ctx context.Context, ref string) (user string, password secrets.Secret, found bool, err error)
}

// Lab delegates to Inner with the host's credentials resolved in the
// issue's order: the catalog's winrm_user and winrm_pass (its env:
// references, as today) when both are set, else the stored credential of
// the host's credential_ref. A host with neither reaches Inner unchanged,
// which refuses it as before.
type Lab struct {
	Inner    lab.Lab
	Resolver Resolver
}

var _ lab.Lab = Lab{}

// withCredentials is h with its stored credentials filled in, when the
// catalog gave none and the store has some.
func (l Lab) withCredentials(ctx context.Context, h hosts.Host) (hosts.Host, error) {
	if l.Resolver == nil || (strings.TrimSpace(h.WinRMUser) != "" && h.WinRMPass != "") {
		return h, nil
	}
	ref := h.CredentialRef
	if ref == "" {
		ref = strings.ToLower(h.Address)
	}
	user, pass, found, err := l.Resolver.WinRM(ctx, ref)
	if err != nil {
		return h, fmt.Errorf("host %s: stored WinRM credential: %w", h.Name, err)
	}
	if found {
		h.WinRMUser, h.WinRMPass = user, pass.Reveal()
	}
	return h, nil
}

// Wake implements lab.Lab; a magic packet needs no credential.
func (l Lab) Wake(ctx context.Context, h hosts.Host, o lab.WakeOptions) (lab.WakeResult, error) {
	return l.Inner.Wake(ctx, h, o)
}

// Reachable implements lab.Lab; a probe needs no credential.
func (l Lab) Reachable(ctx context.Context, h hosts.Host, wait time.Duration) (string, error) {
	return l.Inner.Reachable(ctx, h, wait)
}

// RunCommand implements lab.Lab.
func (l Lab) RunCommand(ctx context.Context, h hosts.Host, command string, args []string, o lab.CommandOptions) (lab.CommandResult, error) {
	h, err := l.withCredentials(ctx, h)
	if err != nil {
		return lab.CommandResult{}, err
	}
	return l.Inner.RunCommand(ctx, h, command, args, o)
}

// ReadHeartbeat implements lab.Lab.
func (l Lab) ReadHeartbeat(ctx context.Context, h hosts.Host, includeEvents bool) (lab.HeartbeatRead, error) {
	h, err := l.withCredentials(ctx, h)
	if err != nil {
		return lab.HeartbeatRead{}, err
	}
	return l.Inner.ReadHeartbeat(ctx, h, includeEvents)
}

// SetLocalMode implements lab.Lab.
func (l Lab) SetLocalMode(ctx context.Context, h hosts.Host, enabled bool) error {
	h, err := l.withCredentials(ctx, h)
	if err != nil {
		return err
	}
	return l.Inner.SetLocalMode(ctx, h, enabled)
}
