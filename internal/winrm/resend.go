package winrm

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Whether a request may be sent again is decided here, and only here. A
// request goes out again only when the station cannot have acted on it,
// at most once for each of these reasons:
//
//   - a connection from the pool failed its first request, closed or reset
//     before any answer came (a *staleConnError, made by lostRequest): the
//     station closed the idle connection and never read the request;
//   - a connection was lost inside an NTLM handshake before the
//     AUTHENTICATE message carried anything (errHandshakeBroken, ntlm.go);
//   - a Kerberos request without a header was answered 401
//     (errKrbReauthenticate, kerberos.go): net/http put it on a new
//     connection, which the station refuses unread.
//
// Never: a kept connection that stays silent (a station that is merely
// slow would run the message twice, and a Create twice leaks a shell
// towards its quota), a 401 on a connection NTLM authenticated (it may come
// after the station ran the message: a Command would run twice), or any
// failure once the message went out.

// withResend runs send, and runs it again while resends allows.
func withResend[T any](ctx context.Context, send func() (T, error)) (T, error) {
	var r resends
	for {
		v, err := send()
		if err == nil || !r.again(ctx, err) {
			return v, err
		}
	}
}

// resends is what one message was sent again for.
type resends struct{ stale, handshake, reauth bool }

// again reports whether the message that failed with err may go out once
// more, counting it.
func (r *resends) again(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var used *bool
	switch {
	case isStale(err):
		used = &r.stale
	case errors.Is(err, errHandshakeBroken):
		used = &r.handshake
	case errors.Is(err, errKrbReauthenticate):
		used = &r.reauth
	default:
		return false
	}
	if *used {
		return false
	}
	*used = true
	return true
}

// lostRequest is the error of a request that failed on a connection of the
// call: the call's own end (its context), a *staleConnError when a pooled
// connection was found closed before any answer, ErrUnreachable when a
// pooled connection gave no first byte within reuseWait (the station most
// likely went to sleep: its connection then stays open and silent, and
// the caller diagnoses it as a failed dial), else err itself.
func lostRequest(ctx context.Context, err error, pooled bool, reuseWait time.Duration) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	var na *noAnswerError
	switch {
	case !pooled || !errors.As(err, &na):
		return err
	case isTimeout(err):
		return &kindError{kind: ErrUnreachable, msg: fmt.Sprintf(
			"no answer on the kept connection within %v (station asleep or cut off?)", reuseWait)}
	default:
		return &staleConnError{err}
	}
}

// staleConnError: a pooled connection failed its first request before
// any answer came (see lostRequest).
type staleConnError struct{ err error }

func (e *staleConnError) Error() string { return "reused connection: " + e.err.Error() }

func (e *staleConnError) Unwrap() error { return e.err }

func isStale(err error) bool {
	var s *staleConnError
	return errors.As(err, &s)
}
