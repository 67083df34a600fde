package domain

import "time"

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
