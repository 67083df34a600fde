package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/ops-worker/ops-worker/internal/netaddr"
	"github.com/ops-worker/ops-worker/internal/ops"
)

// Names of the token's carriers (API.md "Auth").
const (
	TokenHeader = "X-Lab-Manager-Token"
	TokenCookie = "lab_manager_token"
	// DefaultInternalHeader carries the internal credential when
	// Guard.InternalHeader is empty (config.DefaultInternalAuthHeader).
	DefaultInternalHeader = "X-Ops-Internal-Token"
)

// Guard decides who may call the API: the token, and the source address.
type Guard struct {
	// Token is LAB_MANAGER_TOKEN. Empty: every guarded route answers 503,
	// unless AuthDisabled.
	Token string
	// InternalToken is OPS_INTERNAL_AUTH_TOKEN, the service credential the
	// current gateway's proxy sends (in InternalHeader) after stripping the
	// operator's token and cookies (GATEWAY.md section 1). Either it or
	// Token admits a request; with neither set every guarded route answers
	// 503. A header, never a cookie: no cross-site checks apply to it.
	InternalToken string
	// InternalHeader is OPS_INTERNAL_AUTH_HEADER; empty:
	// DefaultInternalHeader.
	InternalHeader string
	// AuthDisabled turns token checks off (OPS_AUTH_DISABLED, development
	// only). The source allowlist still applies.
	AuthDisabled bool
	// AllowBearer also accepts `Authorization: Bearer <token>` (what
	// Prometheus sends to /metrics).
	AllowBearer bool
	// Allowed is OPS_ALLOWED_CIDRS; empty allows every source.
	Allowed []netip.Prefix
	// TrustedProxies is OPS_TRUSTED_PROXIES: only a peer inside them has its
	// X-Forwarded-For believed.
	TrustedProxies []netip.Prefix
	// SourceAddr returns the peer address of r; nil: r.RemoteAddr. The
	// Lambda wiring sets it to API Gateway's requestContext.http.sourceIp,
	// so this package links nothing from AWS.
	SourceAddr func(r *http.Request) (netip.Addr, bool)
}

// Wrap applies the source allowlist, then the token, to next.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.check(r); err != nil {
			writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Guard) check(r *http.Request) *ops.Error {
	if len(g.Allowed) > 0 {
		src, ok := g.Source(r)
		if !ok || !netaddr.InPrefixes(src, g.Allowed) {
			return ops.Errorf(ops.CodeForbidden, "source address not allowed")
		}
	}
	if g.AuthDisabled {
		return nil
	}
	if g.Token == "" && g.InternalToken == "" {
		return ops.Errorf(ops.CodeAuthNotConfigured, "API token not configured on the server")
	}
	if g.internalMatches(r) {
		return nil
	}
	if g.Token == "" {
		return ops.Errorf(ops.CodeUnauthorized, "missing or invalid token")
	}
	ok, byCookie := g.tokenMatches(r)
	if !ok {
		return ops.Errorf(ops.CodeUnauthorized, "missing or invalid token")
	}
	if byCookie {
		return cookieRequestRefusal(r)
	}
	return nil
}

// secretMatches compares an offered credential with the configured one in
// constant time (over SHA-256 digests, so the length does not leak
// either). Nothing offered or nothing configured never matches.
func secretMatches(got, want string) bool {
	if got == "" || want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// internalMatches tells whether r carries the internal credential.
func (g *Guard) internalMatches(r *http.Request) bool {
	if g.InternalToken == "" {
		return false
	}
	name := g.InternalHeader
	if name == "" {
		name = DefaultInternalHeader
	}
	return secretMatches(r.Header.Get(name), g.InternalToken)
}

// tokenMatches compares every offered operator token with the configured
// one (secretMatches). byCookie: only the cookie carried it (what a
// browser attaches to a cross-site request by itself).
func (g *Guard) tokenMatches(r *http.Request) (ok, byCookie bool) {
	match := func(got string) bool { return secretMatches(got, g.Token) }
	if match(r.Header.Get(TokenHeader)) {
		return true, false
	}
	if g.AllowBearer {
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if ok && strings.EqualFold(scheme, "Bearer") && match(strings.TrimSpace(tok)) {
			return true, false
		}
	}
	if c, err := r.Cookie(TokenCookie); err == nil && match(c.Value) {
		return true, true
	}
	return false, false
}

// Source is the caller's address: the peer, or, when the peer is a trusted
// proxy, the right-most X-Forwarded-For entry that is not itself a trusted
// proxy (entries left of it could be forged by the caller).
func (g *Guard) Source(r *http.Request) (netip.Addr, bool) {
	peer, ok := g.peer(r)
	if !ok {
		return netip.Addr{}, false
	}
	if len(g.TrustedProxies) == 0 || !netaddr.InPrefixes(peer, g.TrustedProxies) {
		return peer, true
	}
	hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			// A garbled hop: nothing left of it can be trusted either.
			return netip.Addr{}, false
		}
		a = a.Unmap()
		if !netaddr.InPrefixes(a, g.TrustedProxies) {
			return a, true
		}
	}
	return peer, true
}

func (g *Guard) peer(r *http.Request) (netip.Addr, bool) {
	if g.SourceAddr != nil {
		a, ok := g.SourceAddr(r)
		return a.Unmap(), ok && a.IsValid()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func forwardedFor(values []string) []string {
	var out []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
