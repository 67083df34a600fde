package winrm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/masterzen/winrm/soap"
)

// An answer over maxResponse on an authenticated Kerberos connection fails
// clearly instead of being cut into a broken envelope.
func TestKerberos_OversizedAnswer(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for written := 0; written <= maxResponse; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	tracker := newConnTracker(DefaultDialTimeout)
	ht := newHTTPTransport(tracker, srv.Client().Transport.(*http.Transport).TLSClientConfig, DefaultReadTimeout)
	defer func() { ht.CloseIdleConnections(); tracker.closeAll() }()
	conf := t.TempDir() + "/krb5.conf"
	if err := os.WriteFile(conf, []byte("[libdefaults]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := newKrbTransport(context.Background(), srv.URL+"/wsman", "u@R", "pw", "HTTP/127.0.0.1", conf, ht, nil)
	if err != nil {
		t.Fatal(err)
	}
	k.authed = true // as after the Kerberos handshake of this connection
	_, err = k.Post(nil, soap.NewMessage())
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("err = %v, want ErrProtocol naming the limit", err)
	}
}
