package winrm

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"

	bntlm "github.com/bodgit/ntlmssp"
)

// errHandshakeBroken: the connection of an NTLM handshake failed or was
// closed between its legs.
var errHandshakeBroken = errors.New("connection lost during the NTLM handshake")

// handshakeBroken wraps a transport failure inside a handshake.
func handshakeBroken(err error) error {
	var ke *kindError
	if errors.As(err, &ke) {
		return err
	}
	return fmt.Errorf("%w: %w", errHandshakeBroken, err)
}

// ntlmHandshake is the one NTLM handshake (inside Negotiate) of a new
// connection, for both NTLM transports: an empty NEGOTIATE, the station's
// CHALLENGE, then the AUTHENTICATE.
//
//   - Over HTTPS (sealed false) the first SOAP message rides on the
//     AUTHENTICATE (one request less per new connection), whose answer is
//     the message's; the AUTHENTICATE carries the TLS channel binding
//     (MsvAvChannelBindings) so that a station with
//     CbtHardeningLevel=Strict accepts it (bodgit/ntlmssp is used because
//     Azure/go-ntlmssp cannot send one).
//   - Over plain HTTP (sealed true) the CHALLENGE must offer sealing as
//     Windows does (checkChallenge) before anything more goes out, the
//     AUTHENTICATE goes empty, and the sealing session is kept on the
//     connection.
//
// Until the AUTHENTICATE carries a message nothing can have run: a
// connection lost before that is errHandshakeBroken (resend.go starts over
// on a new connection); a failure after it is returned as it is. It is done
// by hand, not with bodgit/ntlmssp/http or go-ntlmssp's Negotiator: no
// anonymous first try, never a fallback to Basic, the CHALLENGE checked
// before the AUTHENTICATE, and every byte of the station read here, under
// our limits and in Post's goroutine.
//
// Kinds, the same on both: a message we cannot build is ErrConfig; a
// CHALLENGE that is not one or cannot be answered ErrProtocol; no
// NTLM/Negotiate offered ErrAuthMethod; credentials refused
// ErrUnauthorized. A NEGOTIATE answered other than 401 is ErrProtocol on
// HTTPS, and on plain HTTP, like every handshake there that leaves no
// sealing session (a CHALLENGE without the flags, an AUTHENTICATE answered
// other than 200, no session), ErrEncryption: the station would have the
// message in clear text.
type ntlmHandshake struct {
	link           *link
	user, password string
	// send posts one request of the handshake on the call's connection.
	send   func(body, authz string) (*http.Response, error)
	sealed bool
}

// run authenticates the new connection c. Over HTTPS body goes with the
// AUTHENTICATE and its answer is returned; over plain HTTP body is unused
// and the answer nil.
func (h ntlmHandshake) run(c *wireConn, body string) (*http.Response, error) {
	nc, scheme, challenge, cbt, err := h.challenge(c)
	if err != nil {
		return nil, err
	}
	auth, err := nc.Authenticate(challenge, cbt)
	if err != nil {
		return nil, &kindError{kind: ErrProtocol, msg: "ntlm challenge: " + err.Error()}
	}
	authz := scheme + " " + base64.StdEncoding.EncodeToString(auth)
	if h.sealed {
		return nil, h.establish(c, nc, authz)
	}
	resp, err := h.send(body, authz)
	if err != nil {
		return nil, err // the message may have reached the station
	}
	if resp.StatusCode != http.StatusUnauthorized {
		c.authed = true
	}
	return resp, nil
}

// challenge sends the NEGOTIATE on c and returns the station's CHALLENGE,
// the scheme it came in, and the channel binding of c's certificate (nil
// without TLS): the binding is to the connection that carries the
// AUTHENTICATE message, this one.
func (h ntlmHandshake) challenge(c *wireConn) (nc *bntlm.Client, scheme string, challenge []byte, cbt *bntlm.ChannelBindings, err error) {
	if nc, err = newNTLMClient(h.user, h.password); err != nil {
		return nil, "", nil, nil, err
	}
	negotiate, err := nc.Authenticate(nil, nil)
	if err != nil {
		return nil, "", nil, nil, &kindError{kind: ErrConfig, msg: "ntlm negotiate message: " + err.Error()}
	}
	resp, err := h.send("", "Negotiate "+base64.StdEncoding.EncodeToString(negotiate))
	if err != nil {
		return nil, "", nil, nil, handshakeBroken(err)
	}
	code := resp.StatusCode
	scheme, challenge = ntlmChallenge(resp.Header.Values("Www-Authenticate"))
	cbt = channelBindings(resp.TLS)
	discard(resp)
	switch {
	case code != http.StatusUnauthorized && h.sealed:
		err = &kindError{kind: ErrEncryption, msg: fmt.Sprintf("ntlm handshake: HTTP %d to the negotiate message; refusing to send in clear text", code)}
	case code != http.StatusUnauthorized:
		err = &kindError{kind: ErrProtocol, msg: fmt.Sprintf("HTTP %d to the NTLM negotiate message (want 401 and a challenge)", code)}
	case scheme == "" && h.sealed:
		err = &kindError{kind: ErrAuthMethod, msg: "station offers no Negotiate authentication on HTTP"}
	case scheme == "":
		err = &kindError{kind: ErrAuthMethod, msg: "station offers no NTLM/Negotiate; refusing to send Basic credentials"}
	case challenge == nil:
		err = &kindError{kind: ErrUnauthorized, msg: "HTTP 401 to the NTLM negotiate message"}
	case h.sealed:
		err = checkChallenge(challenge)
	}
	if err == nil && h.link.connOf() != c {
		err = handshakeBroken(errors.New("the station closed the connection after its challenge"))
	}
	if err != nil {
		return nil, "", nil, nil, err
	}
	return nc, scheme, challenge, cbt, nil
}

// establish sends the empty AUTHENTICATE of a sealed handshake and keeps
// the sealing session on c.
func (h ntlmHandshake) establish(c *wireConn, nc *bntlm.Client, authz string) error {
	resp, err := h.send("", authz)
	if err != nil {
		return handshakeBroken(err)
	}
	discard(resp)
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return &kindError{kind: ErrUnauthorized, msg: "HTTP 401"}
	case resp.StatusCode != http.StatusOK:
		return &kindError{kind: ErrEncryption, msg: fmt.Sprintf("ntlm handshake: HTTP %d", resp.StatusCode)}
	case !nc.Complete() || nc.SecuritySession() == nil:
		return &kindError{kind: ErrEncryption, msg: "ntlm handshake did not establish a session; refusing to send in clear text"}
	case h.link.connOf() != c:
		return handshakeBroken(errors.New("the station closed the connection after authenticating it"))
	}
	c.authed, c.session = true, nc.SecuritySession()
	return nil
}

// newNTLMClient is the NTLMv2 client of one handshake ("DOMAIN\user" and
// "user@domain" give the domain).
func newNTLMClient(account, password string) (*bntlm.Client, error) {
	user, domain := splitUser(account)
	nc, err := bntlm.NewClient(bntlm.SetUserInfo(user, password), bntlm.SetDomain(domain), bntlm.SetVersion(bntlm.DefaultVersion()))
	if err != nil {
		return nil, &kindError{kind: ErrConfig, msg: "ntlm client: " + err.Error()}
	}
	return nc, nil
}

// channelBindings is the RFC 5929 tls-server-end-point binding of the
// server's leaf certificate: its hash with the hash function of its signature
// algorithm, SHA-256 when that is MD5, SHA-1 or none (RFC 5929 section 4.1).
// nil without TLS.
func channelBindings(cs *tls.ConnectionState) *bntlm.ChannelBindings {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil
	}
	cert := cs.PeerCertificates[0]
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = sha512.New()
	default:
		h = sha256.New()
	}
	h.Write(cert.Raw)
	return &bntlm.ChannelBindings{ApplicationData: append([]byte(bntlm.TLSServerEndPoint+":"), h.Sum(nil)...)}
}

// ntlmChallenge finds the NTLM or Negotiate challenge of a 401. scheme is
// "" when neither is offered.
func ntlmChallenge(values []string) (scheme string, challenge []byte) {
	for _, v := range values {
		name, data, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !strings.EqualFold(name, "Negotiate") && !strings.EqualFold(name, "NTLM") {
			continue
		}
		if scheme == "" {
			scheme = name
		}
		if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data)); err == nil && len(b) > 0 {
			return name, b
		}
	}
	return scheme, nil
}

// NTLM negotiate flags (MS-NLMP 2.2.2.5) checked in a CHALLENGE.
const (
	ntlmSign    = 0x00000010
	ntlmSeal    = 0x00000020
	ntlmESS     = 0x00080000
	ntlm128     = 0x20000000
	ntlmKeyExch = 0x40000000
)

// requiredChallengeFlags must all be in the station's CHALLENGE before
// anything is sealed: bodgit/ntlmssp takes the CHALLENGE's flags as the
// session's, and without NEGOTIATE_SEAL its Wrap returns the message in clear
// text (issue 6: a station could negotiate sealing away). SIGN, KEY_EXCH
// (a random session key), 128-bit keys and extended session security are
// what Windows offers; less is a downgrade.
var requiredChallengeFlags = []struct {
	flag uint32
	name string
}{
	{ntlmSeal, "NEGOTIATE_SEAL"}, {ntlmSign, "NEGOTIATE_SIGN"}, {ntlmKeyExch, "NEGOTIATE_KEY_EXCH"},
	{ntlm128, "NEGOTIATE_128"}, {ntlmESS, "NEGOTIATE_EXTENDED_SESSIONSECURITY"},
}

// checkChallenge refuses a CHALLENGE that does not offer sealing as
// Windows does (see requiredChallengeFlags).
func checkChallenge(challenge []byte) error {
	if len(challenge) < 24 || !bytes.HasPrefix(challenge, []byte("NTLMSSP\x00")) || binary.LittleEndian.Uint32(challenge[8:12]) != 2 {
		return &kindError{kind: ErrProtocol, msg: "ntlm handshake: the station's answer is not an NTLM CHALLENGE"}
	}
	flags := binary.LittleEndian.Uint32(challenge[20:24])
	var missing []string
	for _, f := range requiredChallengeFlags {
		if flags&f.flag == 0 {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return &kindError{kind: ErrEncryption, msg: "ntlm handshake: the station's CHALLENGE does not offer " + strings.Join(missing, ", ") + "; nothing sent"}
	}
	return nil
}

func splitUser(u string) (user, domain string) {
	if name, dom, ok := strings.Cut(u, "@"); ok {
		return name, dom
	}
	if dom, name, ok := strings.Cut(u, `\`); ok {
		return name, dom
	}
	return u, ""
}
