package api

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/ops-worker/ops-worker/internal/ops"
)

// cookieRequestRefusal checks a request whose token came from the
// lab_manager_token cookie, which a browser attaches by itself to a
// cross-site request: a sendBeacon or no-cors fetch from another site can
// POST with it, without a preflight, as long as its body looks like a form
// or text. The Lab Manager page calls from the same origin (the gateway's
// /ops/ proxy), so such a request is refused when the browser says it is
// cross-site or same-site (Sec-Fetch-Site), when its Origin is another host
// than the one it was sent to, or when it is not a GET or HEAD and its body
// is not declared JSON (Content-Type is what a page cannot set across sites
// without a preflight). Requests carrying the header token are not checked.
//
// A foreign site or origin is 403 FORBIDDEN (the caller is refused, as a
// source outside OPS_ALLOWED_CIDRS is); a body not declared JSON is 415
// UNSUPPORTED_MEDIA, the answer a JSON route gives a non-JSON Content-Type.
func cookieRequestRefusal(r *http.Request) *ops.Error {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return ops.Errorf(ops.CodeForbidden, "cross-site request with the token cookie refused")
	}
	if o := r.Header.Get("Origin"); o != "" && !sameHost(o, r) {
		return ops.Errorf(ops.CodeForbidden, "request from another origin with the token cookie refused")
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return ops.Errorf(ops.CodeUnsupportedMedia, "with the token cookie, a request needs Content-Type application/json")
	}
	return nil
}

// sameHost tells whether origin names the host r was sent to: its Host,
// or the X-Forwarded-Host a proxy in front set (a page cannot set that
// header on a cross-site request without a preflight). "null" is foreign.
func sameHost(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	fwd, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Host"), ",")
	fwd = strings.TrimSpace(fwd)
	return fwd != "" && strings.EqualFold(u.Host, fwd)
}
