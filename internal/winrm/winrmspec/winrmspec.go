// Package winrmspec holds the WinRM facts a host entry names: the
// transports and the WS-Management listener ports. A leaf, so that the
// catalog (and through it the use cases) can validate and default a host
// without importing the WinRM client; winrm's constants of the same names
// are these. It imports nothing, as winrm imports nothing else of this
// module.
package winrmspec

// Transports a host entry (winrm_transport) may name.
const (
	TransportNTLM     = "ntlm"
	TransportBasic    = "basic"
	TransportKerberos = "kerberos"
	// DefaultTransport is what an empty transport means.
	DefaultTransport = TransportNTLM
)

// Transports lists every transport, in the order of the default of
// OPS_WINRM_ALLOWED_TRANSPORTS.
func Transports() []string {
	return []string{TransportNTLM, TransportKerberos, TransportBasic}
}

// The WS-Management listener ports, what a zero port means.
const (
	DefaultHTTPSPort = 5986
	DefaultHTTPPort  = 5985
)
