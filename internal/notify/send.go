package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/ops-worker/ops-worker/internal/retry"
)

// Headers of a webhook request. SignatureHeader is
// "sha256=" + hex(HMAC-SHA256(OPS_WEBHOOK_SECRET, timestamp + "." + body)),
// timestamp being TimestampHeader's value (Unix seconds): a receiver
// recomputes it and refuses an old timestamp (a replay).
const (
	SignatureHeader = "X-Ops-Signature"
	TimestampHeader = "X-Ops-Timestamp"
	EventHeader     = "X-Ops-Event"
	EventIDHeader   = "X-Ops-Event-Id"
)

// maxAnswer is how much of a sink's answer is read (then the connection
// may be reused); its content is never used: only the status counts.
const maxAnswer = 4 << 10

// newClient is the senders' HTTP client: TLS verified (the system's
// roots, TLS 1.2 at least), every request bounded by timeout, redirects
// not followed (a 3xx is a failure: the body is not re-sent elsewhere).
func newClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.ResponseHeaderTimeout = timeout
	tr.MaxIdleConnsPerHost = 2
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// statusError is a sink's non-2xx answer.
type statusError struct{ code int }

func (e statusError) Error() string { return "HTTP " + strconv.Itoa(e.code) }

// retryable: a transport error, a timeout or a 5xx/408/425/429 may pass
// on a later try; any other answer will not.
func retryable(err error) bool {
	var se statusError
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusRequestTimeout || se.code == http.StatusTooEarly ||
			se.code == http.StatusTooManyRequests
	}
	return true
}

// describe says what went wrong in a few words that can be logged and
// recorded: never the URL (which *url.Error quotes) nor the sink's answer.
func describe(err error) string {
	var se statusError
	var ne net.Error
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		return se.Error()
	case errors.Is(err, context.Canceled):
		return "cancelled (shutting down)"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the sink"
	case errors.As(err, &dns):
		return "host name not resolved"
	case errors.As(err, &cert), errors.As(err, &unknownAuthority), errors.As(err, &hostname):
		return "TLS certificate not trusted"
	}
	return "transport error"
}

// delivery is the result of one event at one target.
type delivery struct {
	target   target
	attempts int
	status   int // the last answer's, 0 when none came
	err      error
	duration time.Duration
}

// post sends body to t, retrying as Config says; ctx ends it early (Close).
func (d *Dispatcher) post(ctx context.Context, t target, j job, body []byte) delivery {
	start := time.Now()
	out := delivery{target: t}
	p := retry.Policy{First: d.cfg.RetryBackoff, Max: max(d.cfg.RetryBackoff, time.Duration(d.cfg.RetryAttempts)*d.cfg.RetryBackoff),
		Retry: func(err error) bool { return out.attempts <= d.cfg.RetryAttempts && retryable(err) },
		Failed: func(attempt int, err error) {
			d.log.Info("notification not accepted; retrying", "kind", j.kind, "target", t.name, "origin", t.origin,
				"attempt", attempt, "error", describe(err))
		}}
	_, out.err = p.Do(ctx, func(ctx context.Context) error {
		out.attempts++
		status, err := d.once(ctx, t, j, body)
		out.status = status
		return err
	})
	out.duration = time.Since(start)
	return out
}

// once is one POST; the answer's body is read (bounded) and dropped.
func (d *Dispatcher) once(ctx context.Context, t target, j job, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ops-worker-notify")
	switch t.name {
	case TargetService:
		if d.cfg.Token != "" {
			req.Header.Set(d.cfg.TokenHeader, d.cfg.Token)
		}
	case TargetWebhook:
		req.Header.Set(EventHeader, j.kind)
		req.Header.Set(EventIDHeader, j.id)
		if d.cfg.WebhookSecret != "" {
			ts := strconv.FormatInt(d.cfg.Now().Unix(), 10)
			req.Header.Set(TimestampHeader, ts)
			req.Header.Set(SignatureHeader, Sign(d.cfg.WebhookSecret, ts, body))
		}
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, statusError{resp.StatusCode}
	}
	return resp.StatusCode, nil
}

// Sign is the SignatureHeader value of body sent at timestamp (Unix
// seconds, as sent in TimestampHeader) with secret.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
