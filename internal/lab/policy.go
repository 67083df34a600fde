package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ops-worker/ops-worker/internal/hosts"
)

// ErrPolicy is wrapped by every *PolicyError: a per-request override that
// would weaken the host's WinRM policy.
var ErrPolicy = errors.New("override refused by the WinRM policy")

// PolicyError names the refused override. Its message holds no secret.
type PolicyError struct {
	Field  string // "transport", "use_ssl", "port", "user", "password"
	Reason string
}

func (e *PolicyError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

// Unwrap makes errors.Is(err, ErrPolicy) true.
func (e *PolicyError) Unwrap() error { return ErrPolicy }

// commandOptionsFields is CommandOptions without its methods.
type commandOptionsFields CommandOptions

func (o CommandOptions) redacted() commandOptionsFields {
	r := commandOptionsFields(o)
	r.Password = hosts.Redacted(r.Password)
	return r
}

// String, GoString, LogValue and MarshalJSON show the options with the
// password masked (hosts.Redacted), so a logged, dumped or marshalled
// request holds no secret. Unmarshalling is untouched: a request body still
// carries the password in.
func (o CommandOptions) String() string {
	r := o.redacted()
	ssl := "default"
	if r.UseSSL != nil {
		ssl = fmt.Sprint(*r.UseSSL)
	}
	return fmt.Sprintf("{Transport:%s UseSSL:%s Port:%d User:%s Password:%s}", r.Transport, ssl, r.Port, r.User, r.Password)
}

// GoString implements fmt.GoStringer (%#v).
func (o CommandOptions) GoString() string {
	return strings.Replace(fmt.Sprintf("%#v", o.redacted()), "lab.commandOptionsFields", "lab.CommandOptions", 1)
}

// MarshalJSON implements json.Marshaler.
func (o CommandOptions) MarshalJSON() ([]byte, error) { return json.Marshal(o.redacted()) }

// LogValue implements slog.LogValuer.
func (o CommandOptions) LogValue() slog.Value { return slog.StringValue(o.String()) }
