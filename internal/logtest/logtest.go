// Package logtest is test support for code that logs: a log sink that
// concurrent requests may write to while a test reads it.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer is a goroutine-safe bytes.Buffer for slog handlers in tests.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
