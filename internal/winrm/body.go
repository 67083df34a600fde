package winrm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxResponse bounds one WinRM HTTP answer; a real Receive answer is at most
// the envelope size (150 KiB) plus framing. A longer answer is an error, never
// silently cut (a cut SOAP answer could still parse as something else).
const maxResponse = 8 << 20

// maxDiscard bounds what is read of an answer we do not use (a 401 round)
// to keep its connection; a longer one closes the connection instead.
const maxDiscard = 64 << 10

// readBody reads a whole answer, refusing one over maxResponse bytes rather
// than cutting it. A Content-Length over the limit fails before any read.
// The body is read in growing blocks joined at the end, so an oversize
// answer costs about maxResponse, not the 2-3 times of a growing buffer.
func readBody(resp *http.Response) ([]byte, error) {
	if resp.ContentLength > maxResponse {
		return nil, errTooLarge()
	}
	if resp.ContentLength >= 0 && resp.ContentLength <= 1<<20 {
		// The usual answer: its length announced. One allocation of that
		// size (a poll reads four), then the end of the body must follow.
		b := make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, fmt.Errorf("read response: %w", err)
		}
		var extra [1]byte
		if n, err := resp.Body.Read(extra[:]); n != 0 || !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read response: body longer than its Content-Length")
		}
		return b, nil
	}
	r := io.LimitReader(resp.Body, maxResponse+1)
	var blocks [][]byte
	total := 0
	for size := 8 << 10; ; size = min(2*size, 1<<20) {
		b := make([]byte, size)
		n, err := io.ReadFull(r, b)
		// Capacity cut to the length: a decoder that slices past the
		// answer panics (and is recovered) instead of reading stale bytes.
		blocks = append(blocks, b[:n:n])
		total += n
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read response: %w", err)
		}
	}
	if total > maxResponse {
		return nil, errTooLarge()
	}
	if len(blocks) == 1 {
		return blocks[0], nil
	}
	return bytes.Join(blocks, nil), nil
}

func errTooLarge() error {
	return &kindError{kind: ErrProtocol, msg: fmt.Sprintf("answer over %d bytes", maxResponse)}
}

// discard drops an answer we do not use. Up to maxDiscard bytes are read so
// the connection (which NTLM authenticates) can carry the next request; the
// rest is not read: closing the body then closes the connection.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDiscard))
	_ = resp.Body.Close()
}

// readLimited reads a whole answer of at most maxResponse bytes; a longer
// one is an error, not a silently cut SOAP envelope.
func readLimited(r io.Reader) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if len(raw) > maxResponse {
		return nil, &kindError{kind: ErrProtocol, msg: fmt.Sprintf("answer larger than the %d-byte limit", maxResponse)}
	}
	return raw, nil
}

func checkResponse(resp *http.Response, body []byte) (string, error) {
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return "", &kindError{kind: ErrUnauthorized, msg: "HTTP 401"}
	case resp.StatusCode != http.StatusOK:
		return "", &statusError{Code: resp.StatusCode, Body: string(body)}
	case !strings.Contains(resp.Header.Get("Content-Type"), "application/soap+xml"):
		return "", &kindError{kind: ErrProtocol, msg: fmt.Sprintf("unexpected content type %q", escapeText(resp.Header.Get("Content-Type"), 128))}
	}
	return string(body), nil
}
