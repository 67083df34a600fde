// Package winrm runs commands on Lab Stations over WinRM, every call
// bounded by the caller's context and by time limits, with at most a few
// commands in flight per station and typed errors.
//
// masterzen/winrm builds the WS-Management requests and the Shell type
// that deletes a shell; everything that touches the wire is ours: the
// HTTP/1.1 client of Basic and NTLM (over HTTPS, and sealed over plain
// HTTP), the NTLM handshake, the sealing frame, the Kerberos transport, the
// connection pool, the receive loop and the parsing of every answer.
//
// Files:
//
//   - client.go: Config, Client, Run and RunPowerShell, one call from its
//     checks to its outcome.
//   - slots.go: the MaxPerHost slots of each station.
//   - transports.go: the masterzen client and transport of one call.
//   - shell.go: create the shell, run the command, Receive until done,
//     delete the shell (in the background when a call is abandoned).
//   - answer.go: the parsing of the Create, Command and Receive answers.
//   - errors.go: the kinds of failure and how a failure gets its kind.
//   - target.go: Target, its checks and its TLS set-up; cafile*.go: the
//     CA bundles read from disk.
//   - soap.go: Basic and NTLM over HTTPS (masterzen's Transporter).
//   - sealedhttp.go: NTLM with message sealing over plain HTTP.
//   - ntlm.go: the one NTLM handshake of both, and the CHALLENGE check.
//   - seal.go: the multipart/encrypted frame, sealed and unsealed.
//   - resend.go: the one place that decides whether a request may be sent
//     again.
//   - link.go: the connection of one call (taken from the pool or dialled,
//     closed when the call's context ends).
//   - conn.go: one HTTP/1.1 connection and its answer's body; budget.go:
//     the byte budget of one answer; body.go: reading a whole answer under
//     its cap.
//   - pool.go: the authenticated connections kept between calls.
//   - conncheck_*.go: whether an idle connection is still open.
//   - kerberos.go: Kerberos (SPNEGO) over HTTPS on an http.Transport of
//     its own and the tracker that closes its connections;
//     krbticket.go: the ticket, the AP-REQ and the AP-REP check.
//   - guard.go: a panic while decoding an answer becomes an error.
//   - observer.go: the Observer of every call (metrics).
package winrm
