package winrm

import (
	"errors"
)

// staleConnError: a pooled connection failed its first request before
// any answer came (see link.RoundTrip).
type staleConnError struct{ err error }

func (e *staleConnError) Error() string { return "reused connection: " + e.err.Error() }

func (e *staleConnError) Unwrap() error { return e.err }

func isStale(err error) bool {
	var s *staleConnError
	return errors.As(err, &s)
}
