package labsim

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	maxBody         = 4 << 20
	encBoundary     = "--Encrypted Boundary"
	encProtocol     = "application/HTTP-SPNEGO-session-encrypted"
	encContentType  = `multipart/encrypted;protocol="` + encProtocol + `";boundary="Encrypted Boundary"`
	soapContentType = "application/soap+xml;charset=UTF-8"
)

type connKey struct{}

// connState is per TCP connection: NTLM authenticates the connection, not
// the request, as HTTP.sys does on Windows.
type connState struct {
	mu      sync.Mutex
	ntlm    *ntlmServer
	authed  bool
	session *ntlmSession
}

func tlsListener(ln net.Listener, cfg *tls.Config) net.Listener { return tls.NewListener(ln, cfg) }

func (h *Host) newServer(https bool) *http.Server {
	return &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.serveWSMan(w, r, https)
		}),
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			h.conns.Add(1)
			return context.WithValue(ctx, connKey{}, &connState{})
		},
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       h.keepAlive,
		// TLS handshake failures (an untrusted CA in a test) are expected.
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

func (h *Host) serveWSMan(w http.ResponseWriter, r *http.Request, https bool) {
	h.mu.Lock()
	if frozen := h.frozenCtx; h.asleep && !h.closed && frozen != nil {
		// A request on a connection of a host that went to sleep: no
		// answer, until the client gives up or the host wakes.
		h.mu.Unlock()
		select {
		case <-frozen.Done():
		case <-r.Context().Done():
		}
		hijackClose(w)
		return
	}
	if h.closed || h.asleep {
		h.mu.Unlock()
		hijackClose(w)
		return
	}
	h.active.Add(1)
	epoch := h.epoch
	faults := h.faults
	h.mu.Unlock()
	defer h.active.Done()
	h.requests.Add(1)

	if d := h.latency; faults.Latency > 0 || d > 0 {
		if faults.Latency > 0 {
			d = faults.Latency
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-epoch.Done():
			t.Stop()
			hijackClose(w)
			return
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if r.URL.Path != "/wsman" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil {
		cs = &connState{}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}

	cs.mu.Lock()
	defer cs.mu.Unlock()
	encrypted := strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "multipart/encrypted")
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	h.sec.record(Received{At: h.sim.now(), HTTPS: https, ContentType: r.Header.Get("Content-Type"), AuthScheme: scheme,
		BodyLen: len(body), Sealed: encrypted, ClearSOAP: soapEnvelope(body)})
	if rogue := h.sec.currentRogue(); rogue.EndlessHeader {
		writeEndlessHeader(mergeDone(epoch, r.Context()), w, rogue.endlessBytes())
		return
	}
	if !h.authenticate(w, r, cs, https, encrypted) {
		return
	}
	switch {
	case len(body) == 0:
		// The NTLM handshake of the encryption transport posts no body.
		w.WriteHeader(http.StatusOK)
		return
	case encrypted:
		if cs.session == nil {
			h.unauthorized(w, https, "message encryption needs an NTLM session with SIGN/SEAL")
			return
		}
		plain, err := decryptBody(cs.session, body)
		if err != nil {
			h.sim.log.Warn("labsim decrypt", "host", h.name, "err", err)
			http.Error(w, "bad encrypted message", http.StatusBadRequest)
			return
		}
		body = plain
	case !https && !h.allowUnencrypted:
		// Windows with AllowUnencrypted=false refuses clear-text SOAP on 5985.
		h.unauthorized(w, https, "unencrypted traffic is disabled (AllowUnencrypted=false)")
		return
	}

	status, resp := h.handleSOAP(epoch, r.Context(), body, https)
	if epoch.Err() != nil {
		// The host powered down while this request was inside it: the
		// answer never leaves (a frozen server keeps its connection open,
		// so drop this one as the power-off does).
		hijackClose(w)
		return
	}
	if rogue := h.sec.currentRogue(); rogue.answers() && rogue.appliesTo(body) {
		done := mergeDone(epoch, r.Context())
		if h.writeRogue(done, w, rogue, https, cs, encrypted, status, resp) {
			return
		}
	}
	if encrypted {
		out := encryptBody(cs.session, resp)
		w.Header().Set("Content-Type", encContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(status)
		_, _ = w.Write(out)
		return
	}
	w.Header().Set("Content-Type", soapContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
	w.WriteHeader(status)
	_, _ = w.Write(resp)
}

// mergeDone is closed when either context ends.
func mergeDone(a, b context.Context) <-chan struct{} {
	ctx, cancel := context.WithCancel(a)
	context.AfterFunc(b, cancel)
	return ctx.Done()
}

// hijackClose drops the connection without an answer, as a host that
// lost power does.
func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	w.WriteHeader(http.StatusServiceUnavailable)
}

// authenticate handles Basic, NTLM and Negotiate-wrapped NTLM. It writes
// the 401 answers itself and returns true when the request may go on.
func (h *Host) authenticate(w http.ResponseWriter, r *http.Request, cs *connState, https, encrypted bool) bool {
	authz := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(authz, " ")
	switch {
	case authz == "":
		// On HTTPS the connection stays authenticated. On plain HTTP only
		// a sealed message proves the session; anything else must
		// authenticate again (the encryption transport relies on that 401).
		if cs.authed && (https || (encrypted && cs.session != nil)) {
			return true
		}
		h.unauthorized(w, https, "")
		return false
	case strings.EqualFold(scheme, "Basic"):
		if !h.sec.allowBasic {
			// Windows' default: Basic is off on the WinRM service.
			h.unauthorized(w, https, "Basic authentication is disabled")
			return false
		}
		if !https && !h.allowUnencrypted {
			h.unauthorized(w, https, "Basic is refused on an unencrypted listener")
			return false
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
		user, pass, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok || !h.checkPassword(user, pass) {
			h.sim.log.Info("labsim basic auth refused", "host", h.name)
			h.unauthorized(w, https, "")
			return false
		}
		cs.authed, cs.session, cs.ntlm = false, nil, nil // Basic is per request
		return true
	case strings.EqualFold(scheme, "Negotiate") || strings.EqualFold(scheme, "NTLM"):
		msg, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
		if err != nil {
			h.unauthorized(w, https, "bad base64 in Authorization")
			return false
		}
		switch ntlmMessageType(msg) {
		case 1:
			srv, chal, err := newChallenge(msg, h.computerName(), h.sim.now())
			if err != nil {
				h.unauthorized(w, https, err.Error())
				return false
			}
			srv.clearFlags(h.sec.currentRogue().ChallengeClearFlags)
			cs.ntlm, cs.authed, cs.session = srv, false, nil
			if h.sec.takeDropAfterChallenge() {
				w.Header().Set("Connection", "close")
			}
			w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(chal))
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusUnauthorized)
			return false
		case 3:
			if cs.ntlm == nil {
				h.unauthorized(w, https, "AUTHENTICATE without a CHALLENGE on this connection")
				return false
			}
			res, err := cs.ntlm.verify(msg, h.user, h.password)
			cs.ntlm = nil
			if err == nil {
				if why := h.sec.checkCBT(https, res.channelBinding); why != "" {
					err = errors.New(why)
				}
			}
			if err != nil {
				h.sim.log.Info("labsim ntlm auth refused", "host", h.name, "err", err)
				cs.authed, cs.session = false, nil
				h.unauthorized(w, https, "")
				return false
			}
			cs.authed, cs.session = true, res.session
			return true
		default:
			if h.krb != nil {
				return h.kerberosAuth(w, cs, https, msg)
			}
			// A SPNEGO token (Kerberos or NTLM inside ASN.1): not supported.
			h.unauthorized(w, https, "only raw NTLM tokens are supported in Negotiate")
			return false
		}
	default:
		h.unauthorized(w, https, "unsupported authorization scheme")
		return false
	}
}

func (h *Host) checkPassword(user, pass string) bool {
	if i := strings.LastIndexByte(user, '\\'); i >= 0 {
		user = user[i+1:]
	}
	if i := strings.IndexByte(user, '@'); i >= 0 {
		user = user[:i]
	}
	okUser := strings.EqualFold(user, h.user)
	okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(h.password)) == 1
	return okUser && okPass
}

func (h *Host) unauthorized(w http.ResponseWriter, https bool, why string) {
	w.Header().Add("WWW-Authenticate", "Negotiate")
	if h.sec.allowBasic && (https || h.allowUnencrypted) {
		w.Header().Add("WWW-Authenticate", `Basic realm="WSMAN"`)
	}
	if why != "" {
		w.Header().Set("X-Labsim-Reason", why)
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}

// decryptBody parses the multipart/encrypted body masterzen/winrm and
// pywinrm send (MS-WSMV 2.2.9.1.1) and unseals it.
func decryptBody(s *ntlmSession, body []byte) ([]byte, error) {
	const octet = "\tContent-Type: application/octet-stream\r\n"
	end := []byte(encBoundary + "--\r\n")
	if !bytes.HasSuffix(body, end) {
		return nil, errors.New("missing closing boundary")
	}
	body = body[:len(body)-len(end)]
	i := bytes.Index(body, []byte("Length="))
	if i < 0 {
		return nil, errors.New("missing OriginalContent length")
	}
	j := bytes.Index(body[i:], []byte("\r\n"))
	if j < 0 {
		return nil, errors.New("bad OriginalContent line")
	}
	want, err := strconv.Atoi(string(bytes.TrimSpace(body[i+7 : i+j])))
	if err != nil {
		return nil, fmt.Errorf("bad OriginalContent length: %w", err)
	}
	k := bytes.Index(body, []byte(octet))
	if k < 0 {
		return nil, errors.New("missing octet-stream part")
	}
	stream := body[k+len(octet):]
	if len(stream) < 4 {
		return nil, errors.New("short stream")
	}
	sl := int(binary.LittleEndian.Uint32(stream))
	if sl != 16 || len(stream) < 4+sl {
		return nil, errors.New("bad signature length")
	}
	plain, err := s.unwrap(stream[4+sl:], stream[4:4+sl])
	if err != nil {
		return nil, err
	}
	if len(plain) != want {
		return nil, fmt.Errorf("decrypted length %d, header says %d", len(plain), want)
	}
	return plain, nil
}

func encryptBody(s *ntlmSession, plain []byte) []byte {
	sealed, sig := s.wrap(plain)
	var b bytes.Buffer
	b.WriteString(encBoundary + "\r\n")
	b.WriteString("\tContent-Type: " + encProtocol + "\r\n")
	fmt.Fprintf(&b, "\tOriginalContent: type=%s;Length=%d\r\n", soapContentType, len(plain))
	b.WriteString(encBoundary + "\r\n")
	b.WriteString("\tContent-Type: application/octet-stream\r\n")
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(sig)))
	b.Write(sig)
	b.Write(sealed)
	b.WriteString(encBoundary + "--\r\n")
	return b.Bytes()
}
