package winrm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	bntlm "github.com/bodgit/ntlmssp"
)

// Wire format of NTLM message encryption, identical to masterzen's
// encryption.go (which follows pywinrm), so a station that speaks to
// masterzen speaks to us.
const (
	encBoundary      = "--Encrypted Boundary"
	encProtocol      = "application/HTTP-SPNEGO-session-encrypted"
	encOctetHeader   = "\tContent-Type: application/octet-stream\r\n"
	encContentType   = `multipart/encrypted;protocol="` + encProtocol + `";boundary="Encrypted Boundary"`
	encProtocolParam = `protocol="` + encProtocol + `"`
)

// sealBody seals plain in session and frames it as a multipart/encrypted
// request body.
func sealBody(session *bntlm.SecuritySession, plain []byte) (*bytes.Buffer, error) {
	sealed, sig, err := session.Wrap(plain)
	if err != nil {
		return nil, &kindError{kind: ErrEncryption, msg: "seal message: " + err.Error()}
	}
	var body bytes.Buffer
	body.Grow(len(plain) + 256)
	body.WriteString(encBoundary + "\r\n")
	body.WriteString("\tContent-Type: " + encProtocol + "\r\n")
	body.WriteString("\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + strconv.Itoa(len(plain)) + "\r\n")
	body.WriteString(encBoundary + "\r\n")
	body.WriteString(encOctetHeader)
	_ = binary.Write(&body, binary.LittleEndian, uint32(len(sig)))
	body.Write(sig)
	body.Write(sealed)
	body.WriteString(encBoundary + "--\r\n")
	return &body, nil
}

// ntlmSignatureSize is the size of an NTLM message signature.
const ntlmSignatureSize = 16

// decryptBody unseals a multipart/encrypted answer, checking every length
// (masterzen indexes blindly and panics on a malformed body).
func decryptBody(session *bntlm.SecuritySession, body []byte) ([]byte, error) {
	var parts [][]byte
	for _, p := range bytes.Split(body, []byte(encBoundary+"\r\n")) {
		if len(p) > 0 {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 || len(parts)%2 != 0 {
		return nil, errors.New("malformed multipart body")
	}
	var out []byte
	for i := 0; i < len(parts); i += 2 {
		header, payload := parts[i], parts[i+1]
		_, lenText, ok := bytes.Cut(header, []byte("Length="))
		if !ok {
			return nil, errors.New("no Length in part header")
		}
		want, err := strconv.Atoi(string(bytes.TrimSpace(lenText)))
		if err != nil || want < 0 {
			return nil, errors.New("bad Length in part header")
		}
		payload = bytes.TrimSuffix(payload, []byte(encBoundary+"--\r\n"))
		data, ok := bytes.CutPrefix(payload, []byte(encOctetHeader))
		if !ok {
			return nil, errors.New("no octet-stream part")
		}
		if len(data) < 4 {
			return nil, errors.New("short encrypted part")
		}
		// An NTLM signature is exactly 16 bytes (MS-NLMP 2.2.2.9.1);
		// ntlmssp's Unwrap slices it blindly (issue 6: a zero length
		// panicked with "slice bounds out of range [:12]").
		sigLen := binary.LittleEndian.Uint32(data[:4])
		if sigLen != ntlmSignatureSize || len(data) < 4+ntlmSignatureSize {
			return nil, fmt.Errorf("signature length %d, want %d in a part of %d bytes", sigLen, ntlmSignatureSize, len(data)-4)
		}
		msg, err := session.Unwrap(data[4+sigLen:], data[4:4+sigLen])
		if err != nil {
			return nil, err
		}
		if len(msg) != want {
			return nil, errors.New("decrypted length differs from the announced one")
		}
		out = append(out, msg...)
	}
	return out, nil
}
