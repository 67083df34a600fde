package labsim

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/bodgit/ntlmssp"
)

// handshake runs bodgit/ntlmssp (the client of the encryption transport)
// against the server side and returns the AUTHENTICATE message.
func handshake(t *testing.T, user, password string) (*ntlmssp.Client, *ntlmServer, []byte) {
	t.Helper()
	c, err := ntlmssp.NewClient(ntlmssp.SetUserInfo(user, password), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
	if err != nil {
		t.Fatal(err)
	}
	neg, err := c.Authenticate(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, chal, err := newChallenge(neg, "LAB-WS-01", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	auth, err := c.Authenticate(chal, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv, auth
}

func TestNTLM_VerifyAndSeal(t *testing.T) {
	c, srv, auth := handshake(t, "LabGatewaySvc", "pw")
	res, err := srv.verify(auth, "labgatewaysvc", "pw")
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if res.session == nil {
		t.Fatal("no session although the client asked for SIGN/SEAL")
	}
	// Both directions, several messages: RC4 state and sequence numbers
	// must stay in step with the client's.
	for i, msg := range []string{"<a/>", strings.Repeat("x", 5000), ""} {
		sealed, sig, err := c.SecuritySession().Wrap([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		got, err := res.session.unwrap(sealed, sig)
		if err != nil || string(got) != msg {
			t.Fatalf("message %d client->server: got %q, %v", i, got, err)
		}
		sealed, sig = res.session.wrap([]byte(msg + "!"))
		back, err := c.SecuritySession().Unwrap(sealed, sig)
		if err != nil || string(back) != msg+"!" {
			t.Fatalf("message %d server->client: got %q, %v", i, back, err)
		}
	}
	sealed, sig, _ := c.SecuritySession().Wrap([]byte("tampered"))
	sealed[0] ^= 1
	if _, err := res.session.unwrap(sealed, sig); err == nil {
		t.Error("a tampered message passed the signature check")
	}
}

func TestNTLM_Refusals(t *testing.T) {
	t.Run("wrong password", func(t *testing.T) {
		_, srv, auth := handshake(t, "LabGatewaySvc", "wrong")
		if _, err := srv.verify(auth, "LabGatewaySvc", "pw"); err == nil || !strings.Contains(err.Error(), "bad password") {
			t.Errorf("got %v, want bad password", err)
		}
	})
	t.Run("wrong user", func(t *testing.T) {
		_, srv, auth := handshake(t, "someone", "pw")
		if _, err := srv.verify(auth, "LabGatewaySvc", "pw"); err == nil {
			t.Error("got no error")
		}
	})
	t.Run("tampered MIC", func(t *testing.T) {
		_, srv, auth := handshake(t, "LabGatewaySvc", "pw")
		bad := bytes.Clone(auth)
		bad[80] ^= 0xff
		if _, err := srv.verify(bad, "LabGatewaySvc", "pw"); err == nil || !strings.Contains(err.Error(), "MIC") {
			t.Errorf("got %v, want bad MIC", err)
		}
	})
	t.Run("replayed to another challenge", func(t *testing.T) {
		_, _, auth := handshake(t, "LabGatewaySvc", "pw")
		_, srv2, _ := handshake(t, "LabGatewaySvc", "pw")
		if _, err := srv2.verify(auth, "LabGatewaySvc", "pw"); err == nil {
			t.Error("an AUTHENTICATE message passed against another server challenge")
		}
	})
}
