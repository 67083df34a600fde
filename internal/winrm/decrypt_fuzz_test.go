package winrm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"strings"
	"testing"

	bntlm "github.com/bodgit/ntlmssp"
	mzwinrm "github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

// sessionPair runs our NTLM client's handshake against labsim's station
// code in process and returns both ends of the sealing session.
func sessionPair(tb testing.TB) (*bntlm.SecuritySession, *labsim.Acceptor) {
	tb.Helper()
	nc, err := newNTLMClient(`LAB-WS-01\`+labsim.DefaultUser, labsim.DefaultPassword)
	if err != nil {
		tb.Fatal(err)
	}
	acc := labsim.NewAcceptor(labsim.DefaultUser, labsim.DefaultPassword)
	neg, err := nc.Authenticate(nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	chal, err := acc.Challenge(neg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := checkChallenge(chal); err != nil {
		tb.Fatal(err)
	}
	auth, err := nc.Authenticate(chal, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := acc.Accept(auth); err != nil {
		tb.Fatal(err)
	}
	return nc.SecuritySession(), acc
}

const soapSeed = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><rsp:Shell><rsp:ShellId>1</rsp:ShellId></rsp:Shell></s:Body></s:Envelope>`

// FuzzDecryptBody feeds decryptBody answers sealed by a real session
// (labsim's station code against our bodgit client), then cut, altered,
// stripped of their closing boundary, with another signature length or
// another octet-stream part, or replaced by raw bytes. It must never panic,
// and whatever it accepts must be exactly what the station sealed.
func FuzzDecryptBody(f *testing.F) {
	f.Add([]byte(soapSeed), []byte{}, uint8(0), uint16(0), byte(0))
	f.Add([]byte(soapSeed), []byte{}, uint8(1), uint16(200), byte(0))
	f.Add([]byte(soapSeed), []byte{}, uint8(2), uint16(190), byte(0xff))
	f.Add([]byte(soapSeed), []byte{}, uint8(3), uint16(0), byte(0))   // signature length 0 (issue 6)
	f.Add([]byte(soapSeed), []byte{}, uint8(4), uint16(0), byte(0))   // no closing boundary
	f.Add([]byte{}, []byte{0, 0, 0, 0}, uint8(5), uint16(0), byte(0)) // octet part: length 0, nothing else
	f.Add([]byte{}, []byte(encBoundary+"\r\nLength=0\r\n"+encBoundary+"\r\n"+encOctetHeader+"\x00\x00\x00\x00"), uint8(6), uint16(0), byte(0))
	f.Fuzz(func(t *testing.T, plain, raw []byte, op uint8, pos uint16, val byte) {
		session, acc := sessionPair(t)
		body, err := acc.Seal(plain)
		if err != nil {
			t.Fatal(err)
		}
		octet := bytes.Index(body, []byte(encOctetHeader)) + len(encOctetHeader)
		end := []byte(encBoundary + "--\r\n")
		switch op % 7 {
		case 0: // genuine
		case 1:
			body = body[:int(pos)%(len(body)+1)]
		case 2:
			body[int(pos)%len(body)] ^= val | 1
		case 3:
			binary.LittleEndian.PutUint32(body[octet:], uint32(pos))
		case 4:
			body = bytes.TrimSuffix(body, end)
		case 5:
			body = append(append(append([]byte(nil), body[:octet]...), raw...), end...)
		case 6:
			body = raw
		}
		got, err := decryptBody(session, body)
		if err == nil && !bytes.Equal(got, plain) {
			t.Fatalf("decryptBody accepted %q as %q, the station sealed %q", body, got, plain)
		}
		if op%7 == 0 && err != nil {
			t.Fatalf("genuine answer refused: %v", err)
		}
	})
}

type panicTransport struct{}

func (panicTransport) Transport(*mzwinrm.Endpoint) error { return nil }
func (panicTransport) Post(*mzwinrm.Client, *soap.SoapMessage) (string, error) {
	var b []byte
	_ = b[:12] // what ntlmssp's Unwrap did with an empty signature
	return "", nil
}

// A panic inside a transport's Post becomes an ErrProtocol error and one
// log line, which names no secret.
func TestGuardPanics(t *testing.T) {
	var log strings.Builder
	tr := guardPanics(panicTransport{}, slog.New(slog.NewTextHandler(&log, nil)))
	_, err := tr.Post(nil, nil)
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("err = %v, want ErrProtocol", err)
	}
	if !strings.Contains(log.String(), "winrm transport panic") || strings.Contains(log.String(), labsim.DefaultPassword) {
		t.Errorf("log = %q", log.String())
	}
}

// A station's error body reaches the error text bounded and escaped, and
// an OperationTimeout fault still reads as one to masterzen's receive loop.
func TestStatusError_Bounded(t *testing.T) {
	long := strings.Repeat("x", 600) + "OperationTimeout"
	e := &statusError{Code: 500, Body: "line1\r\nforged=1\x1b[31m" + long}
	got := e.Error()
	if strings.ContainsAny(got, "\r\n\x1b") {
		t.Errorf("control characters not escaped: %q", got)
	}
	if len(got) > maxErrorBody+64 {
		t.Errorf("error text of %d bytes", len(got))
	}
	if !strings.Contains(got, operationTimeout) {
		t.Errorf("OperationTimeout lost: %q", got)
	}
	if len(e.Body) != len("line1\r\nforged=1\x1b[31m")+len(long) {
		t.Error("body not kept whole")
	}
	if got := (&statusError{Code: 400, Body: "\xff\xfe ok \u00e9"}).Error(); got != `http error 400: \xff\xfe ok é` {
		t.Errorf("got %q", got)
	}
}
