package labsim

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/rc4"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"golang.org/x/crypto/md4" //nolint:staticcheck // NTLM is defined on MD4 (MS-NLMP 3.3.1)
)

// NTLM negotiate flags (MS-NLMP 2.2.2.5).
const (
	ntlmUnicode      = 0x00000001
	ntlmOEM          = 0x00000002
	ntlmRequestTgt   = 0x00000004
	ntlmSign         = 0x00000010
	ntlmSeal         = 0x00000020
	ntlmLMKey        = 0x00000080
	ntlmNTLM         = 0x00000200
	ntlmAnonymous    = 0x00000800
	ntlmAlwaysSign   = 0x00008000
	ntlmTargetServer = 0x00020000
	ntlmESS          = 0x00080000
	ntlmTargetInfo   = 0x00800000
	ntlmVersion      = 0x02000000
	ntlm128          = 0x20000000
	ntlmKeyExch      = 0x40000000
	ntlm56           = 0x80000000
)

var ntlmSignature = []byte("NTLMSSP\x00")

// ntlmServer is one connection's NTLM exchange: Negotiate -> Challenge ->
// Authenticate.
type ntlmServer struct {
	negotiate []byte
	challenge []byte
	flags     uint32
	serverCh  [8]byte
}

func ntlmMessageType(b []byte) uint32 {
	if len(b) < 12 || !bytes.Equal(b[:8], ntlmSignature) {
		return 0
	}
	return binary.LittleEndian.Uint32(b[8:12])
}

// newChallenge answers a NEGOTIATE message. The flags echo what the client
// asked for among those this server supports, as Windows does: a client
// that did not ask for KEY_EXCH (Azure/go-ntlmssp) must not get it.
func newChallenge(negotiate []byte, computer string, now time.Time) (*ntlmServer, []byte, error) {
	if ntlmMessageType(negotiate) != 1 || len(negotiate) < 16 {
		return nil, nil, errors.New("not an NTLM NEGOTIATE message")
	}
	cf := binary.LittleEndian.Uint32(negotiate[12:16])
	flags := uint32(ntlmNTLM | ntlmRequestTgt | ntlmTargetServer | ntlmTargetInfo | ntlmVersion)
	if cf&ntlmUnicode != 0 {
		flags |= ntlmUnicode
	} else {
		flags |= ntlmOEM
	}
	flags |= cf & (ntlmSign | ntlmSeal | ntlmAlwaysSign | ntlmESS | ntlm128 | ntlm56 | ntlmKeyExch)
	if cf&ntlmESS == 0 {
		return nil, nil, errors.New("NTLMv1 without extended session security is refused")
	}
	s := &ntlmServer{negotiate: append([]byte(nil), negotiate...), flags: flags}
	if _, err := rand.Read(s.serverCh[:]); err != nil {
		return nil, nil, err
	}

	target := utf16le(computer)
	var ti bytes.Buffer
	av := func(id uint16, v []byte) {
		_ = binary.Write(&ti, binary.LittleEndian, id)
		_ = binary.Write(&ti, binary.LittleEndian, uint16(len(v)))
		ti.Write(v)
	}
	av(2, target)                             // MsvAvNbDomainName
	av(1, target)                             // MsvAvNbComputerName
	av(4, utf16le(strings.ToLower(computer))) // MsvAvDnsDomainName
	av(3, utf16le(strings.ToLower(computer))) // MsvAvDnsComputerName
	av(7, fileTime(now))                      // MsvAvTimestamp
	av(0, nil)                                // MsvAvEOL
	info := ti.Bytes()

	const hdr = 56
	msg := make([]byte, hdr, hdr+len(target)+len(info))
	copy(msg, ntlmSignature)
	binary.LittleEndian.PutUint32(msg[8:], 2)
	putField(msg[12:], len(target), hdr)
	binary.LittleEndian.PutUint32(msg[20:], flags)
	copy(msg[24:32], s.serverCh[:])
	putField(msg[40:], len(info), hdr+len(target))
	copy(msg[48:56], []byte{10, 0, 0x63, 0x45, 0, 0, 0, 15}) // Windows 10.0.17763, NTLMSSP rev 15
	msg = append(msg, target...)
	msg = append(msg, info...)
	s.challenge = msg
	return s, msg, nil
}

// clearFlags takes flags out of the CHALLENGE (a rogue host's downgrade);
// the stored copy changes with it, so the MIC still verifies.
func (s *ntlmServer) clearFlags(f uint32) {
	if f == 0 {
		return
	}
	s.flags &^= f
	binary.LittleEndian.PutUint32(s.challenge[20:], s.flags)
}

// authResult is a verified AUTHENTICATE message.
type authResult struct {
	user, domain string
	session      *ntlmSession // nil without SIGN/SEAL
	// channelBinding is the MsvAvChannelBindings value of the NTLMv2 blob,
	// nil when absent; the caller checks it against its certificate.
	channelBinding []byte
}

// verify checks an AUTHENTICATE message against the account: NTLMv2 only,
// NTProofStr = HMAC-MD5(NTOWFv2, serverChallenge || blob), then the MIC
// when the client says it sent one.
func (s *ntlmServer) verify(auth []byte, wantUser, password string) (*authResult, error) {
	if ntlmMessageType(auth) != 3 || len(auth) < 64 {
		return nil, errors.New("not an NTLM AUTHENTICATE message")
	}
	field := func(off int) ([]byte, error) {
		l := int(binary.LittleEndian.Uint16(auth[off:]))
		o := int(binary.LittleEndian.Uint32(auth[off+4:]))
		if o < 0 || l < 0 || o+l > len(auth) {
			return nil, fmt.Errorf("field at %d out of range", off)
		}
		return auth[o : o+l], nil
	}
	nt, err := field(20)
	if err != nil {
		return nil, err
	}
	domainB, err := field(28)
	if err != nil {
		return nil, err
	}
	userB, err := field(36)
	if err != nil {
		return nil, err
	}
	encKey, err := field(52)
	if err != nil {
		return nil, err
	}
	flags := binary.LittleEndian.Uint32(auth[60:64])
	unicode := flags&ntlmUnicode != 0
	user, domain := decodeNTLMString(userB, unicode), decodeNTLMString(domainB, unicode)
	if user == "" || len(nt) == 0 || flags&ntlmAnonymous != 0 {
		return nil, errors.New("anonymous logon refused")
	}
	if len(nt) <= 24 {
		return nil, errors.New("NTLMv1 response refused")
	}
	if !strings.EqualFold(user, wantUser) {
		return nil, errors.New("unknown user")
	}
	ntowf := ntowfv2(password, user, domain)
	proof, blob := nt[:16], nt[16:]
	want := hmacMD5(ntowf, s.serverCh[:], blob)
	if !hmac.Equal(proof, want) {
		return nil, errors.New("bad password")
	}
	keyExchangeKey := hmacMD5(ntowf, proof)
	exported := keyExchangeKey
	if flags&ntlmKeyExch != 0 {
		if len(encKey) != 16 {
			return nil, errors.New("KEY_EXCH without a 16-byte session key")
		}
		c, _ := rc4.NewCipher(keyExchangeKey)
		exported = make([]byte, 16)
		c.XORKeyStream(exported, encKey)
	}
	if micPresent(blob) {
		// The MIC sits after the 8-byte Version at offset 72.
		if len(auth) < 88 {
			return nil, errors.New("MIC flagged but missing")
		}
		zeroed := append([]byte(nil), auth...)
		copy(zeroed[72:88], make([]byte, 16))
		mic := hmacMD5(exported, s.negotiate, s.challenge, zeroed)
		if !hmac.Equal(mic, auth[72:88]) {
			return nil, errors.New("bad MIC")
		}
	}
	res := &authResult{user: user, domain: domain, channelBinding: avPair(blob, avChannelBindings)}
	if flags&(ntlmSign|ntlmSeal) != 0 {
		res.session = newNTLMSession(flags, exported)
	}
	return res, nil
}

// AV pair IDs of the NTLMv2 blob (MS-NLMP 2.2.2.1).
const (
	avFlags           = 6
	avChannelBindings = 10
)

// micPresent looks for MsvAvFlags with bit 0x2 in the NTLMv2 blob's AV pairs.
func micPresent(blob []byte) bool {
	v := avPair(blob, avFlags)
	return len(v) == 4 && binary.LittleEndian.Uint32(v)&0x2 != 0
}

// avPair returns the value of the AV pair id in an NTLMv2 blob (the pairs
// start after its 28-byte header), nil when absent or malformed.
func avPair(blob []byte, id uint16) []byte {
	if len(blob) < 28 {
		return nil
	}
	p := blob[28:]
	for len(p) >= 4 {
		pid := binary.LittleEndian.Uint16(p)
		l := int(binary.LittleEndian.Uint16(p[2:]))
		if pid == 0 || 4+l > len(p) {
			return nil
		}
		if pid == id {
			return p[4 : 4+l]
		}
		p = p[4+l:]
	}
	return nil
}

// ntlmSession is the server side of NTLM message security (MS-NLMP 3.4):
// RC4 sealing and HMAC-MD5 signatures with extended session security.
type ntlmSession struct {
	flags           uint32
	outSign, inSign []byte
	outSeal, inSeal *rc4.Cipher
	outSeq, inSeq   uint32
}

func newNTLMSession(flags uint32, exported []byte) *ntlmSession {
	const (
		c2sSign = "session key to client-to-server signing key magic constant\x00"
		s2cSign = "session key to server-to-client signing key magic constant\x00"
		c2sSeal = "session key to client-to-server sealing key magic constant\x00"
		s2cSeal = "session key to server-to-client sealing key magic constant\x00"
	)
	sealKey := func(c string) []byte {
		k := exported
		switch {
		case flags&ntlm128 != 0:
		case flags&ntlm56 != 0:
			k = exported[:7]
		default:
			k = exported[:5]
		}
		return md5sum(k, []byte(c))
	}
	out, _ := rc4.NewCipher(sealKey(s2cSeal))
	in, _ := rc4.NewCipher(sealKey(c2sSeal))
	return &ntlmSession{
		flags:   flags,
		outSign: md5sum(exported, []byte(s2cSign)),
		inSign:  md5sum(exported, []byte(c2sSign)),
		outSeal: out,
		inSeal:  in,
	}
}

func (s *ntlmSession) signature(key []byte, seq uint32, msg []byte, c *rc4.Cipher) []byte {
	sq := make([]byte, 4)
	binary.LittleEndian.PutUint32(sq, seq)
	sum := hmacMD5(key, sq, msg)[:8]
	if s.flags&ntlmKeyExch != 0 {
		c.XORKeyStream(sum, sum)
	}
	sig := make([]byte, 0, 16)
	sig = append(sig, 1, 0, 0, 0)
	sig = append(sig, sum...)
	return append(sig, sq...)
}

// wrap seals msg for the client and returns the sealed bytes and signature.
func (s *ntlmSession) wrap(msg []byte) (sealed, sig []byte) {
	sealed = make([]byte, len(msg))
	s.outSeal.XORKeyStream(sealed, msg)
	sig = s.signature(s.outSign, s.outSeq, msg, s.outSeal)
	s.outSeq++
	return sealed, sig
}

// unwrap unseals a client message and checks its signature.
func (s *ntlmSession) unwrap(sealed, sig []byte) ([]byte, error) {
	if len(sig) != 16 {
		return nil, errors.New("bad signature length")
	}
	msg := make([]byte, len(sealed))
	s.inSeal.XORKeyStream(msg, sealed)
	want := s.signature(s.inSign, s.inSeq, msg, s.inSeal)
	if !hmac.Equal(sig, want) {
		return nil, errors.New("message signature does not match")
	}
	s.inSeq++
	return msg, nil
}

func ntowfv2(password, user, domain string) []byte {
	h := md4.New()
	h.Write(utf16le(password))
	return hmacMD5(h.Sum(nil), utf16le(strings.ToUpper(user)+domain))
}

func hmacMD5(key []byte, parts ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

func md5sum(parts ...[]byte) []byte {
	h := md5.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func decodeNTLMString(b []byte, unicode bool) string {
	if !unicode {
		return string(b)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func putField(b []byte, length, offset int) {
	binary.LittleEndian.PutUint16(b, uint16(length))
	binary.LittleEndian.PutUint16(b[2:], uint16(length))
	binary.LittleEndian.PutUint32(b[4:], uint32(offset))
}

func fileTime(t time.Time) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(t.UnixNano()/100+116444736000000000))
	return b
}
