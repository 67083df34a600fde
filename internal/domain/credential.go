package domain

import (
	"errors"
	"time"
)

// The kinds of stored credential (ops_credentials.kind).
const (
	CredentialKindWinRM = "winrm" // a station's WinRM account
	CredentialKindPower = "power" // a power controller's (issue 18)
)

// CredentialRecord is one row of the credential store. Sealed is the
// secret, encrypted (secrets.Keyring) under the key KeyID names; every
// other field is metadata, safe to show.
type CredentialRecord struct {
	Kind      string
	Ref       string
	Type      string
	KeyID     string
	Sealed    []byte
	CreatedAt time.Time
	UpdatedAt time.Time
	UpdatedBy string
}

// ErrCredentialExists is the store's answer when a credential row exists
// and was not to be overwritten (store.ErrCredentialExists is this value,
// so the use cases test for it without importing the adapter).
var ErrCredentialExists = errors.New("credential already exists")
