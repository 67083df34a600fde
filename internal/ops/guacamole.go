package ops

import (
	"context"
	"strings"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
)

// GuacamoleDirectory is what GET /api/hosts needs of the gateway's
// Guacamole database: its connections (internal/guacamole reads them; app
// wires it). Its error is shown as guacamoleError, so it must hold no
// secret.
type GuacamoleDirectory interface {
	Connections(ctx context.Context) ([]domain.GuacConnection, error)
}

// The Guacamole link states of a host (GATEWAY.md section 5).
const (
	GuacLinked    = "linked"    // exactly one connection points at the host
	GuacAmbiguous = "ambiguous" // several do
	GuacMissing   = "missing"   // none does
)

// guacNotConfigured is guacamoleError without a Guacamole database.
const guacNotConfigured = "Guacamole database not configured"

// GuacamoleLink is a host's "guacamole" in GET /api/hosts.
type GuacamoleLink struct {
	Status      string                `json:"status"`
	Connections []GuacamoleConnection `json:"connections"`
}

// GuacamoleConnection is one Guacamole connection as the page shows it.
// Hostname and port are null when the connection has no such parameter;
// port is Guacamole's text ("3389").
type GuacamoleConnection struct {
	ID       int64   `json:"id"`
	Name     string  `json:"name"`
	Hostname *string `json:"hostname"`
	Protocol string  `json:"protocol"`
	Port     *string `json:"port"`
}

func guacView(c domain.GuacConnection) GuacamoleConnection {
	v := GuacamoleConnection{ID: c.ID, Name: c.Name, Protocol: c.Protocol}
	if c.Hostname != "" {
		v.Hostname = &c.Hostname
	}
	if c.Port != "" {
		v.Port = &c.Port
	}
	return v
}

// guacLinks is the linking of the catalog's hosts to conns: a connection
// belongs to every host whose address or name equals its hostname (blanks
// aside, in any case), and a connection that belongs to no host is
// unmatched (a provisioning candidate). links has one entry per host,
// in the catalog's order.
func guacLinks(hs []hosts.Host, conns []domain.GuacConnection) (links []*GuacamoleLink, unmatched []GuacamoleConnection) {
	claimed := make([]bool, len(conns))
	links = make([]*GuacamoleLink, len(hs))
	for i, h := range hs {
		keys := []string{matchKey(h.Address), matchKey(h.Name)}
		link := &GuacamoleLink{Connections: []GuacamoleConnection{}}
		for j, c := range conns {
			k := matchKey(c.Hostname)
			if k == "" || (k != keys[0] && k != keys[1]) {
				continue
			}
			claimed[j] = true
			link.Connections = append(link.Connections, guacView(c))
		}
		switch len(link.Connections) {
		case 0:
			link.Status = GuacMissing
		case 1:
			link.Status = GuacLinked
		default:
			link.Status = GuacAmbiguous
		}
		links[i] = link
	}
	unmatched = []GuacamoleConnection{}
	for j, c := range conns {
		if !claimed[j] {
			unmatched = append(unmatched, guacView(c))
		}
	}
	return links, unmatched
}

func matchKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// guacamole reads the Guacamole connections and links them to hs, filling
// out's top-level fields; an unreadable directory leaves every host's link
// null (not "missing": nothing is known) and says why.
func (s *Service) guacamole(ctx context.Context, hs []hosts.Host, out *HostsResponse) []*GuacamoleLink {
	out.GuacamoleUnmatched = []GuacamoleConnection{}
	if s.Guacamole == nil {
		out.GuacamoleError = guacNotConfigured
		return make([]*GuacamoleLink, len(hs))
	}
	conns, err := s.Guacamole.Connections(ctx)
	if err != nil {
		s.log().WarnContext(ctx, "guacamole connections unreadable", "err", err)
		out.GuacamoleError = "Guacamole query failed: " + err.Error()
		return make([]*GuacamoleLink, len(hs))
	}
	out.GuacamoleAvailable = true
	links, unmatched := guacLinks(hs, conns)
	out.GuacamoleUnmatched = unmatched
	return links
}

// CredentialResolver tells whether a host's WinRM credentials resolve
// (GET /api/hosts' winrmConfigured). The catalog answers for its
// winrm_user/winrm_pass (CatalogCredentials); a credential store keyed by
// the host's credential_ref can answer too (CredentialResolvers).
type CredentialResolver interface {
	WinRMConfigured(ctx context.Context, h hosts.Host) bool
}

// CatalogCredentials resolves a host's credentials from its catalog entry:
// both winrm_user and winrm_pass non-empty, env: references already
// resolved by the loader (an unset variable fails the load; one set to ""
// is not configured).
type CatalogCredentials struct{}

// WinRMConfigured implements CredentialResolver.
func (CatalogCredentials) WinRMConfigured(_ context.Context, h hosts.Host) bool {
	return strings.TrimSpace(h.WinRMUser) != "" && h.WinRMPass != ""
}

// CredentialResolvers resolves when any of its resolvers does, in order.
type CredentialResolvers []CredentialResolver

// WinRMConfigured implements CredentialResolver.
func (rs CredentialResolvers) WinRMConfigured(ctx context.Context, h hosts.Host) bool {
	for _, r := range rs {
		if r.WinRMConfigured(ctx, h) {
			return true
		}
	}
	return false
}

// credentials is Service.Credentials, the catalog's when unset.
func (s *Service) credentials() CredentialResolver {
	if s.Credentials != nil {
		return s.Credentials
	}
	return CatalogCredentials{}
}
