package labsim_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

// The endless rogue answers are what they say (a header line, trailer
// lines) and stop after EndlessBytes, closing the connection, so that a
// client without a limit still sees them end.
func TestRogue_EndlessAnswersEnd(t *testing.T) {
	sim, err := labsim.Start(context.Background(), labsim.Options{Hosts: []labsim.HostOptions{{Name: "lab-ws-01", AllowUnencrypted: true, AllowBasic: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	h := sim.Host("lab-ws-01")
	const n = 1 << 20
	for _, tc := range []struct {
		name  string
		rogue labsim.Rogue
		head  string // the answer starts so
		line  string // and then goes on with lines starting so
	}{
		{"header", labsim.Rogue{EndlessHeader: true, EndlessBytes: n}, "HTTP/1.1 401 Unauthorized\r\n", "WWW-Authenticate: Negotiate AAAA"},
		{"trailers", labsim.Rogue{EndlessTrailers: true, EndlessBytes: n}, "HTTP/1.1 200 OK\r\n", "X-Pad: ppp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.SetRogue(tc.rogue)
			defer h.SetRogue(labsim.Rogue{})
			conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(h.HTTPPort()), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>`
			req := "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nAuthorization: Basic " +
				base64.StdEncoding.EncodeToString([]byte(h.User()+":"+h.Password())) + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			all, err := io.ReadAll(br)
			if err != nil {
				t.Fatalf("read: %v (the stream must end with the connection closed)", err)
			}
			s := string(all)
			if !strings.HasPrefix(s, tc.head) || !strings.Contains(s, "\r\n"+tc.line) {
				t.Errorf("answer starts %q, want %q and lines %q", s[:min(len(s), 200)], tc.head, tc.line)
			}
			if len(all) < n || len(all) > n+4096 {
				t.Errorf("%d bytes, want %d of endless part and a short head", len(all), n)
			}
		})
	}
}
