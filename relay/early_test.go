package relay_test

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/relayproto"
)

// Issue 15 item 5: a request whose signature headers are missing, of the
// wrong shape, outside the window or for another relay is answered 401
// before its body is read: the relay answers with the body still unsent.
func TestRelay_HeadersCheckedBeforeBody(t *testing.T) {
	e := start(t, secretNew)
	u, _ := url.Parse(e.url)
	now := strconv.FormatInt(time.Now().Unix(), 10)
	sig := "v2=" + strings.Repeat("ab", 32)
	for name, headers := range map[string]string{
		"no signature":   "",
		"malformed":      "X-Relay-Id: 127.0.0.1\r\nX-Relay-Timestamp: x\r\nX-Relay-Nonce: 0123456789abcdef\r\nX-Relay-Signature: " + sig + "\r\n",
		"old timestamp":  "X-Relay-Id: 127.0.0.1\r\nX-Relay-Timestamp: 1000000000\r\nX-Relay-Nonce: 0123456789abcdef\r\nX-Relay-Signature: " + sig + "\r\n",
		"another relay":  "X-Relay-Id: relay-b.lab.example\r\nX-Relay-Timestamp: " + now + "\r\nX-Relay-Nonce: 0123456789abcdef\r\nX-Relay-Signature: " + sig + "\r\n",
		"version 1":      "X-Relay-Timestamp: " + now + "\r\nX-Relay-Nonce: 0123456789abcdef\r\nX-Relay-Signature: v1=" + strings.Repeat("ab", 32) + "\r\n",
		"content length": "X-Relay-Id: 127.0.0.1\r\nX-Relay-Timestamp: " + now + "\r\nX-Relay-Nonce: 0123456789abcdef\r\nX-Relay-Signature: " + sig + "\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			length := relayproto.MaxBody
			want := http.StatusUnauthorized
			if name == "content length" {
				length, want = relayproto.MaxBody+1, http.StatusRequestEntityTooLarge
			}
			// The headers only: the body is announced and never sent.
			req := "POST " + relayproto.PathCommand + " HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Type: application/json\r\n" +
				headers + "Content-Length: " + strconv.Itoa(length) + "\r\n\r\n"
			if _, err := conn.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer before the body: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("status %d, want %d", resp.StatusCode, want)
			}
		})
	}
}

// Issue 15 item 5: the audit line names a nonce only once the MAC holds; a
// forged request's nonce header, however long, is not logged.
func TestRelay_LogsOnlyVerifiedNonces(t *testing.T) {
	e := start(t, secretNew)
	forged := "forgedNonce" + strings.Repeat("Z", 40)
	if code, _ := e.send(t, rawReq{method: "GET", path: relayproto.PathHealth, nonce: forged, secret: strings.Repeat("x", 40)}); code != http.StatusUnauthorized {
		t.Fatalf("forged: %d", code)
	}
	long := strings.Repeat("L", 20<<10)
	if code, _ := e.send(t, rawReq{method: "GET", path: relayproto.PathHealth, nonce: long}); code != http.StatusUnauthorized {
		t.Fatalf("long nonce: %d", code)
	}
	good := relayproto.NewNonce()
	if code, body := e.send(t, rawReq{method: "GET", path: relayproto.PathHealth, nonce: good}); code != http.StatusOK {
		t.Fatalf("genuine: %d %s", code, body)
	}
	logs := e.logs.String()
	if strings.Contains(logs, "forgedNonce") || strings.Contains(logs, "LLLLLLLL") {
		t.Errorf("the audit log holds an unverified nonce:\n%.2000s", logs)
	}
	if !strings.Contains(logs, `"nonce":"`+good+`"`) {
		t.Errorf("the audit log lacks the verified nonce %s:\n%.2000s", good, logs)
	}
	if n := strings.Count(logs, `"msg":"relay audit"`); n != 3 {
		t.Errorf("%d audit lines for 3 requests", n)
	}
}
