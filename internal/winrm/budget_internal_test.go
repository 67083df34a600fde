package winrm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// readAnswer reads one answer from raw as wireConn.roundTrip does: the
// budget beneath the bufio.Reader, the body through connBody.
func readAnswer(raw []byte) (*http.Response, error) {
	c := &wireConn{}
	c.budget.r = bytes.NewReader(raw)
	c.br = bufio.NewReaderSize(&c.budget, 8<<10)
	c.budget.start()
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, err
	}
	resp.Body = &connBody{ReadCloser: resp.Body, c: c}
	return resp, nil
}

// A chunked body far over the 64 KiB that the rest of the answer gets,
// all of it on hand at once (one Read then draws many chunks from the
// wire), is read whole: body bytes are paid for by the body's own cap.
func TestAnswerBudget_LargeChunkedBody(t *testing.T) {
	var raw bytes.Buffer
	raw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nTransfer-Encoding: chunked\r\n\r\n")
	chunk := strings.Repeat("x", 4<<10)
	const chunks = 512 // 2 MiB
	for range chunks {
		fmt.Fprintf(&raw, "%x\r\n%s\r\n", len(chunk), chunk)
	}
	raw.WriteString("0\r\n\r\n")
	resp, err := readAnswer(raw.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	b, err := readBody(resp)
	if err != nil || len(b) != chunks*len(chunk) {
		t.Fatalf("readBody = %d bytes, %v; want %d", len(b), err, chunks*len(chunk))
	}
}

// The status line and headers together stop at 64 KiB, with ErrProtocol
// naming the limit; just under it they are read.
func TestAnswerBudget_Headers(t *testing.T) {
	answer := func(pad int) []byte {
		return []byte("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nWWW-Authenticate: Negotiate " + strings.Repeat("A", pad) + "\r\n\r\n")
	}
	if _, err := readAnswer(answer(60 << 10)); err != nil {
		t.Errorf("60 KiB header: %v", err)
	}
	_, err := readAnswer(answer(64 << 10))
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "exceed 64 KiB") {
		t.Errorf("64 KiB header: err = %v, want ErrProtocol naming the limit", err)
	}
	if _, err := readAnswer(answer(0)); err != nil {
		t.Errorf("short answer: %v", err)
	}
}
