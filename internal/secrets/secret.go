// Package secrets provides the worker's handling of secret values: a
// string wrapper that every printing path redacts, and the keyring that
// seals the credential store's rows with AES-256-GCM.
package secrets

import (
	"fmt"
	"log/slog"
)

// Redacted is what every printing path of a Secret gives.
const Redacted = "[redacted]"

// Secret holds a secret string. Only Reveal gives the value: fmt (every
// verb, %#v included), slog and encoding/json all see Redacted, so a secret
// that reaches a log line, an error or a response by mistake stays hidden.
type Secret struct {
	v string
}

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the value, for the one place that must send it.
func (s Secret) Reveal() string { return s.v }

// IsZero reports an empty secret.
func (s Secret) IsZero() bool { return s.v == "" }

// String implements fmt.Stringer.
func (Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return Redacted }

// Format implements fmt.Formatter, so no verb (%x, %q, %d...) reaches the
// underlying string through fmt's reflection.
func (Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", Redacted)
		return
	}
	fmt.Fprint(f, Redacted)
}

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON gives the redacted text: a secret is never answered.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText matches MarshalJSON for text encoders (and map keys).
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
