package winrm

import (
	"fmt"
	"io"
)

// maxAnswerFraming bounds what one answer takes from the wire besides its
// body's bytes: the status line, the headers, the chunk framing and the
// trailers together. http.ReadResponse sets no limit on any of them (a
// station answering the NTLM NEGOTIATE with an endless WWW-Authenticate
// header grew one call to 2.4 GB, issue 15); WinRM answers carry a few
// short headers.
const maxAnswerFraming = 64 << 10

// errAnswerFraming is what a read past maxAnswerFraming returns.
var errAnswerFraming error = &kindError{kind: ErrProtocol,
	msg: fmt.Sprintf("station answer headers, chunk framing and trailers exceed %d KiB", maxAnswerFraming>>10)}

// answerBudget is the byte budget of one answer, enforced beneath the
// connection's bufio.Reader so that no field of an answer can grow past
// it: every byte read from the wire spends it, and every body byte the
// body reader hands out (up to maxResponse+1, one past readBody's cap)
// is paid for by the body's own allowance (lend, settle), so the body has
// its own cap and everything else shares maxAnswerFraming. Bytes read
// ahead into the bufio.Reader are spent until they are handed out.
type answerBudget struct {
	r    io.Reader
	left int64 // wire bytes that may still be read
	body int64 // body bytes that may still be given back
}

// start opens the budget of the next answer.
func (b *answerBudget) start() {
	b.left, b.body = maxAnswerFraming, maxResponse+1
}

func (b *answerBudget) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errAnswerFraming
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// lend raises the budget by up to n body bytes for one read of the body
// of up to n bytes: a single read may draw many chunks from the wire
// before it returns. It returns what was lent, for settle.
func (b *answerBudget) lend(n int) int64 {
	l := min(int64(n), b.body)
	b.body -= l
	b.left += l
	return l
}

// settle ends a read that lent lent and handed out n body bytes: what was
// lent and not handed out is taken back (body bytes beyond the body's cap
// were spent from the rest of the budget).
func (b *answerBudget) settle(lent int64, n int) {
	if unused := lent - int64(n); unused > 0 {
		b.left -= unused
		b.body += unused
	}
}
