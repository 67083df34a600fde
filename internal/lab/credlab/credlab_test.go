package credlab

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
	"github.com/ops-worker/ops-worker/internal/secrets"
)

// seen records the host each call reached the inner lab with.
type seen struct{ hosts []hosts.Host }

func (s *seen) Wake(_ context.Context, h hosts.Host, _ lab.WakeOptions) (lab.WakeResult, error) {
	s.hosts = append(s.hosts, h)
	return lab.WakeResult{}, nil
}
func (s *seen) Reachable(_ context.Context, h hosts.Host, _ time.Duration) (string, error) {
	s.hosts = append(s.hosts, h)
	return "", nil
}
func (s *seen) RunCommand(_ context.Context, h hosts.Host, _ string, _ []string, _ lab.CommandOptions) (lab.CommandResult, error) {
	s.hosts = append(s.hosts, h)
	return lab.CommandResult{}, nil
}
func (s *seen) ReadHeartbeat(_ context.Context, h hosts.Host, _ bool) (lab.HeartbeatRead, error) {
	s.hosts = append(s.hosts, h)
	return lab.HeartbeatRead{}, nil
}
func (s *seen) SetLocalMode(_ context.Context, h hosts.Host, _ bool) error {
	s.hosts = append(s.hosts, h)
	return nil
}

type resolver map[string][2]string

func (r resolver) WinRM(_ context.Context, ref string) (string, secrets.Secret, bool, error) {
	if ref == "broken" {
		return "", secrets.Secret{}, false, errors.New("key id 0123 not in OPS_SECRETS_KEY")
	}
	v, ok := r[ref]
	return v[0], secrets.NewSecret(v[1]), ok, nil
}

func TestLab_ResolutionOrder(t *testing.T) {
	ctx := context.Background()
	in := &seen{}
	l := Lab{Inner: in, Resolver: resolver{"ref-a": {"stored", "stored-pw"}, "10.0.0.9": {"byaddr", "addr-pw"}}}
	catalog := hosts.Host{Name: "c", CredentialRef: "ref-a", WinRMUser: "cat", WinRMPass: "cat-pw"}
	stored := hosts.Host{Name: "s", CredentialRef: "ref-a"}
	half := hosts.Host{Name: "h", CredentialRef: "ref-a", WinRMUser: "cat"} // no password: not resolved by the catalog
	none := hosts.Host{Name: "n", CredentialRef: "ref-z"}
	addr := hosts.Host{Name: "a", Address: "10.0.0.9"}
	for _, tt := range []struct {
		h          hosts.Host
		user, pass string
	}{{catalog, "cat", "cat-pw"}, {stored, "stored", "stored-pw"}, {half, "stored", "stored-pw"}, {none, "", ""}, {addr, "byaddr", "addr-pw"}} {
		in.hosts = nil
		l.RunCommand(ctx, tt.h, "status", nil, lab.CommandOptions{})
		l.ReadHeartbeat(ctx, tt.h, false)
		l.SetLocalMode(ctx, tt.h, true)
		for i, got := range in.hosts {
			if got.WinRMUser != tt.user || got.WinRMPass != tt.pass {
				t.Errorf("%s call %d: %q/%q, want %q/%q", tt.h.Name, i, got.WinRMUser, got.WinRMPass, tt.user, tt.pass)
			}
		}
		if len(in.hosts) != 3 {
			t.Fatalf("%d calls delegated", len(in.hosts))
		}
	}
	in.hosts = nil
	l.Wake(ctx, stored, lab.WakeOptions{})
	l.Reachable(ctx, stored, time.Second)
	if len(in.hosts) != 2 || in.hosts[0].WinRMPass != "" {
		t.Fatalf("wake/reachable: %+v", in.hosts)
	}
	_, err := l.RunCommand(ctx, hosts.Host{Name: "b", CredentialRef: "broken"}, "status", nil, lab.CommandOptions{})
	if err == nil || !strings.Contains(err.Error(), "host b: stored WinRM credential: key id 0123") {
		t.Fatalf("resolver error: %v", err)
	}
}
