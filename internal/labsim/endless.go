package labsim

import (
	"bytes"
	"net/http"
	"strconv"
)

// defaultEndlessBytes bounds an endless rogue answer when Rogue.EndlessBytes
// is 0: far past any sane limit, yet a client with none still sees the
// answer end (the stream stops and the connection closes).
const defaultEndlessBytes = 256 << 20

// endlessBytes is the length of an endless answer's endless part.
func (r *Rogue) endlessBytes() int64 {
	if r.EndlessBytes > 0 {
		return r.EndlessBytes
	}
	return defaultEndlessBytes
}

// writeEndlessHeader answers with HTTP 401 and a WWW-Authenticate header
// whose value goes on for n bytes, then closes the connection. The
// connection is taken over: net/http writes headers only whole.
func writeEndlessHeader(done <-chan struct{}, w http.ResponseWriter, n int64) {
	writeHijacked(done, w, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nWWW-Authenticate: Negotiate ", 'A', n)
}

// writeEndlessTrailers answers with a chunked HTTP 200 of contentType whose
// short body is followed by n bytes of trailer lines, then closes the
// connection.
func writeEndlessTrailers(done <-chan struct{}, w http.ResponseWriter, contentType string, n int64) {
	const body = "<s:Envelope/>"
	head := "HTTP/1.1 200 OK\r\nContent-Type: " + contentType + "\r\nTransfer-Encoding: chunked\r\nTrailer: X-Pad\r\n\r\n" +
		strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n"
	writeHijacked(done, w, head, 0, n)
}

// writeHijacked takes over the connection, writes head and then n bytes of
// filler (fill, or trailer lines "X-Pad: ..." when fill is 0) from one
// fixed block, and closes the connection. It stops early when the client
// closes, or done ends.
func writeHijacked(done <-chan struct{}, w http.ResponseWriter, head string, fill byte, n int64) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		// A client that stops reading must not hold this stream until the
		// host stops: done ending closes the connection.
		select {
		case <-done:
			_ = conn.Close()
		case <-stop:
		}
	}()
	block := bytes.Repeat([]byte{fill}, 32<<10)
	if fill == 0 {
		line := append([]byte("X-Pad: "), bytes.Repeat([]byte("p"), 1014)...)
		line = append(line, "\r\n"...) // 1 KiB per trailer line
		block = bytes.Repeat(line, 32)
	}
	bw := rw.Writer
	if _, err := bw.WriteString(head); err != nil {
		return
	}
	for ; n > 0; n -= int64(len(block)) {
		if _, err := bw.Write(block[:min(n, int64(len(block)))]); err != nil {
			return
		}
	}
	_ = bw.Flush()
}
