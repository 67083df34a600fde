package legacyimport

import (
	"fmt"
	"log/slog"
)

// redacted is what a Secret prints as, whatever the verb or encoder.
const redacted = "[redacted]"

// Secret holds a decrypted password or community string. Its value is in an
// unexported field and every way of printing it (fmt verbs, %#v, slog,
// encoding/json) gives "[redacted]", so a record printed whole in a log line
// or an error holds no secret. Reveal is the one way to the value.
//
// It mirrors internal/secrets.Secret, which another part of issue 17
// introduces; the integrator replaces this type with that one.
type Secret struct{ value string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{value: s} }

// Reveal returns the secret itself, for the store that seals it.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter, so %x, %q and %d print the mask too
// rather than the bytes of the value.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (a Secret as a map key or
// in a text encoding).
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
