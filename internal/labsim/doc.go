// Package labsim is a simulated Windows Lab Station: a real WS-Management
// (WinRM) server that the real github.com/masterzen/winrm client talks to,
// plus Wake-on-LAN, LabStation.exe and the station's telemetry files.
//
// # Listeners
//
// Every host listens on 127.0.0.1 only: WinRM over HTTPS and over plain
// HTTP at /wsman, and a UDP wake port, each on the port HostOptions gives
// (HTTPSPort, HTTPPort, WakePort) or else an ephemeral one. A port in use
// fails Start with an error naming the host and the port. The HTTPS
// certificate (127.0.0.1, ::1, localhost) is made at every Start and signed
// by an ECDSA P-256 CA whose certificate is at Sim.CAFile: with
// Options.CADir the CA is loaded from there (or made and saved there once)
// and outlives the sim, so fixed ports and the CA keep a hosts.json valid
// across restarts; without it the CA is new and its file is removed by
// Close.
//
// # Authentication
//
//   - Basic (HTTPS only, unless HostOptions.AllowUnencrypted), per request,
//     and only with HostOptions.AllowBasic: off by default, as on Windows,
//     and then not offered in WWW-Authenticate.
//   - Kerberos under "Negotiate" (SPNEGO with an AP-REQ) when
//     HostOptions.Kerberos gives a keytab: the ticket is verified with
//     gokrb5, the client principal must be the host's user@Realm, and the
//     answer carries the AP-REP for mutual authentication (kerberos.go).
//   - NTLMv2 under "Negotiate" or "NTLM" (raw NTLM tokens; other SPNEGO
//     tokens are refused with 401). The challenge carries a
//     random server challenge and target info with a timestamp; the
//     AUTHENTICATE message is checked with NTProofStr =
//     HMAC-MD5(NTOWFv2(password, user, domain), serverChallenge || blob), and
//     the MIC when the client flags one. NTLMv1 and anonymous are refused.
//     As with HTTP.sys, NTLM authenticates the TCP connection: on HTTPS later
//     requests on it need no Authorization header; on plain HTTP only sealed
//     messages ride on it and anything else authenticates again (the
//     masterzen encryption transport relies on that 401).
//   - Plain HTTP refuses clear-text SOAP (401) like a listener with
//     AllowUnencrypted=false; it takes NTLM message encryption
//     (multipart/encrypted, application/HTTP-SPNEGO-session-encrypted,
//     RC4 sealing and HMAC-MD5 signatures from the exported session key,
//     KEY_EXCH honoured), and answers encrypted.
//   - Channel binding on HTTPS (HostOptions.CBT, Host.SetCBT): CBTStrict,
//     the default (a hardened station's CbtHardeningLevel=Strict), requires
//     the AUTHENTICATE message's MsvAvChannelBindings to match the host
//     certificate's RFC 5929 tls-server-end-point binding and answers 401
//     otherwise; CBTRelaxed checks it only when sent; CBTNone ignores it.
//
// # Rogue stations
//
// Host.SetRogue(Rogue{...}) makes a host hostile, optionally for one action
// only (Rogue.Action): NTLM flags cleared from the CHALLENGE, the sealed part
// of an encrypted answer replaced or its closing boundary left off, garbage
// bodies, oversize chunked answers, one byte at a time (Drip), 401 after
// running the request, the connection closed after answering, a header or
// chunked trailers that do not end (EndlessHeader, EndlessTrailers).
// Host.Received records every WinRM request (HTTPS or not, content type,
// auth scheme, body length, sealed, SOAP readable in clear), so a test can
// assert that nothing went out unsealed. Acceptor runs the station side of
// an NTLM handshake and its sealing in-process (for fuzzing a client's
// decoder with genuinely sealed input).
//
// # WS-Management
//
// Create (shell), Command, Receive, Signal, Send (stdin is dropped) and
// Delete. Receive answers the output there is with CommandState Running,
// and the last part with CommandState Done and the exit code, split so that
// no answer is larger than the request's MaxEnvelopeSize header (masterzen
// asks 153600); when a command has neither new output nor an end by the
// request's OperationTimeout, Receive answers the w:TimedOut fault
// (WSManFault code 2150858793, "... within the time specified in
// OperationTimeout"), as Windows does (counted by Host.TimedOutReceives).
//
// Faults have Windows' shape: HTTP 500, a SOAP 1.2 fault whose code is
// s:Sender for what the client got wrong (w:InvalidSelectors 2150858843 for
// an unknown or expired shell, w:InvalidParameter 2150858854 for an
// unknown command id, w:SchemaValidationError 2150858817 for bad XML,
// w:QuotaLimit, w:EncodingLimit) and s:Receiver for the service's own
// condition (w:TimedOut), and the WSManFault detail with Code, Machine
// (the host name in capitals) and Message.
//
// Windows' limits, on by default, each with a HostOptions knob:
//
//   - MaxShellsPerUser 30: a 31st Create gets w:QuotaLimit 2150859173
//     ("This user is allowed a maximum number of 30 concurrent shells,
//     which has been exceeded...").
//   - IdleTimeout 2 h: a shell without requests for that long is closed
//     (its commands ended); later requests get the unknown-shell fault and
//     it no longer counts against MaxShellsPerUser. Time is Options.Now.
//   - MaxEnvelopeSize 512000 bytes (MaxEnvelopeSizekb 500): a larger
//     request gets HTTP 413 with w:EncodingLimit 2150858805.
//   - Output code page: a shell whose Create did not ask for
//     WINRS_CODEPAGE 65001 (masterzen asks for it) gets its programs'
//     stdout and stderr in the OEM code page (437, or OEMCodePage 850),
//     '?' for what it cannot encode; PowerShell after
//     [Console]::OutputEncoding = [System.Text.Encoding]::UTF8 writes
//     UTF-8 whatever the shell. OEMCodePage 65001 turns this off.
//
// At most 2 commands are in flight per host (the Lab Station contract):
// a command holds a slot from Command until its Done output is received,
// it is signalled, or its shell is deleted. A third concurrent Command
// gets the w:QuotaLimit fault (2150859174, "maximum number of 2 concurrent
// operations").
//
// # Command lines
//
// The command line is Command + " " + Arguments, recorded exactly
// (Host.Commands) and split by ParseCommandLine (cmd.exe then MSVC rules).
// A line that cmd.exe would interpret (unquoted & | < >) is not run: it
// exits 1 with "labsim: refused: ..." on stderr and Args nil.
//
//   - argv[0] equal to HostOptions.LabStationExe (default
//     C:\LabStation\LabStation.exe; any case, / or \): the contract of
//     LABSTATION.md. Options are --name=value or --flag; an unknown command
//     or option, a value for a flag, a missing value, a non-number of
//     seconds, or --repair-wake other than yes|no exit 2 with usage on
//     stderr. prepare-session/release-session exit 1 when the lab user's
//     profile folder is missing (Host.SetProfileMissing). The session guard
//     (prepare-session without --no-guard, release-session, session guard)
//     evicts a signed-in local user (HostOptions.LocalUser,
//     Host.SetLocalUser): a warn and a logoff line go to the events log and
//     lastForcedLogoff is set. With a local user signed in, the
//     guard writes the warn line and a notice (the first Receive's output)
//     at once, waits its grace period (--guard-grace/--grace, 90 s by
//     default) times HostOptions.TimeScale (0 or 1: real time; 0.01 makes
//     90 s take 0.9 s), then writes the logoff line, sets lastForcedLogoff
//     and finishes the command. A guard command ended before then (Signal,
//     shell deleted, power-off) evicts nobody. power shutdown|hibernate records
//     lastPowerAction and puts the host to sleep --delay seconds after the
//     command (never sooner than 300ms, so the WinRM exchange ends, nor
//     than HostOptions.PowerOffDelay, the time Windows takes to go down).
//     release-session --reboot and recovery reboot-if-needed --force
//     reboot: asleep, then awake after the boot delay. status-json prints
//     the status JSON, or writes it to an absolute path that Get-Content
//     can then read.
//   - argv[0] powershell.exe or powershell (on the PATH, or at
//     C:\Windows\System32\WindowsPowerShell\v1.0\) with -EncodedCommand
//     <base64 UTF-16LE> (what winrm.Powershell produces) or -Command: the
//     subset below.
//   - anything else, LabStation.exe at another path included, is a
//     program that does not exist: cmd.exe's "'x' is not recognized as an
//     internal or external command,\r\noperable program or batch file."
//     on stderr and exit 9009.
//
// # PowerShell subset
//
//   - statements separated by ; or newlines outside quotes; # comments;
//     single-quoted strings with ” as an escaped quote; double-quoted
//     strings only without $ or backtick (no expansion is simulated);
//   - $ErrorActionPreference = 'Stop' (or any other value), $ProgressPreference
//     = ..., [Console]::OutputEncoding = [System.Text.Encoding]::UTF8 and
//     other $variable = value assignments are accepted;
//   - Get-Content [-LiteralPath|-Path] '<path>' with -Raw (whole file as
//     one string), -Tail <n> (last n lines), -Encoding <name>,
//     -ErrorAction Stop; each output line ends with CR LF;
//   - Write-Output '<text>' (and a bare string statement);
//   - try { ... } catch { ... } (an optional [Type] after catch);
//   - if (<condition>) { ... } [else { ... }], the condition being
//     Test-Path, $true or $false;
//   - Set-Content [-LiteralPath|-Path] '<path>' [-Value] '<text>'
//     (-Encoding, -NoNewline, -Force), Remove-Item '<path>' (-Force; files
//     only) and Test-Path '<path>' (-PathType): Set-Content fails as
//     Windows does when the folder does not exist, both when the path is
//     under Faults.DeniedPaths (access denied), Remove-Item when the file
//     does not exist or is one the station's service holds open (fs.go);
//     while LocalModeFlagPath exists, the heartbeat reports
//     status.localModeEnabled true, and creating or removing it rewrites
//     the heartbeat at once (a new timestamp);
//   - exit <n>.
//
// Errors follow PowerShell: a missing file is a non-terminating error
// (written, the script goes on, exit code 1) unless $ErrorActionPreference
// is 'Stop' or -ErrorAction Stop is given, in which case it is terminating
// and a surrounding try runs its catch block. An unknown command ("The term
// '...' is not recognized ...") and parameter errors end the statement
// (statement-terminating): a try catches them. Error records are written to stderr
// serialised as CLIXML ("#< CLIXML" then <S S="Error"> lines), as
// powershell.exe does for -EncodedCommand over WinRM. The exit code is
// powershell.exe's for -Command/-EncodedCommand: the exit statement's
// value, else 1 after a script-terminating error ($ErrorActionPreference
// 'Stop' outside a try), else that of the last statement ($?): 0 when it
// succeeded, 1 when it wrote an error, whatever errors earlier statements
// wrote. Pipelines,
// script blocks, variables in expressions and every other cmdlet are
// outside the subset and fail with an error naming the statement.
//
// Files: Host.SetFile puts any file on the station; HeartbeatPath (from
// the heartbeat.json fixture; the timestamp
// moves every HostOptions.HeartbeatInterval since boot, and summary,
// localSessionActive, lastPowerAction and lastForcedLogoff follow the
// state) and EventsPath (the fixture's lines plus the guard's). Any other
// path is not found.
//
// # Sleep and wake
//
// Asleep, both WinRM listeners are closed; the UDP wake listener always
// runs. With SleepBlackhole the connections that were open stay open and
// silent, as a sleeping Windows host leaves them (no FIN, no RST): a
// request on one gets no answer until the client gives up, and waking the
// host closes them. With SleepRefuse they are closed (the client reads EOF
// or a reset). A request that was inside the host when it went down is
// dropped unanswered either way. Idle HTTP connections are closed after
// HostOptions.KeepAliveTimeout (HTTP.sys's IdleConnectionTimeout, 120 s). With SleepMode
// SleepBlackhole (the default, as a sleeping or powered-off Windows host)
// the ports ignore SYNs, so a client's dial waits for its own timeout:
// the port is held by a listening socket with a zero backlog whose one
// queue slot is taken by a connection of labsim's own, never accepted, so
// Linux drops further SYNs. SleepRefuse makes them refuse at once (faster
// for benchmarks). A magic
// packet (6 x 0xFF then the host's MAC 16 times, optionally a SecureOn
// password) for the host's MAC wakes it after BootDelay, on the same
// ports; other packets are ignored.
//
// # Faults
//
// Host.SetFaults: per-request latency, a failure rate (exit 2 and a
// PowerShell-like error), hung commands, garbage stdout, a truncated
// heartbeat, forced LabStation.exe exit codes, a stale heartbeat, another
// schemaVersion, an empty events log, and DieMidCall: the host powers
// down (per its SleepMode) when a Receive arrives, dropping it unanswered.
//
// # Known differences from Windows
//
//   - A request in flight when the host dies or sleeps is dropped (the
//     client reads EOF at once); a real host that loses power leaves it
//     silent until the client's read timeout. Connections idle at that
//     moment do stay silent (SleepBlackhole), as on Windows.
//   - The blackhole needs a unix socket API; elsewhere a sleeping host
//     refuses.
//   - One account per host: MaxShellsPerUser counts every shell, and the
//     client's own shell IdleTimeOut option is ignored (the host's wins).
//     MaxConcurrentOperationsPerUser (1500) is not simulated; the Lab
//     Station limit of 2 commands in flight is stricter.
//   - The w:EncodingLimit answer's status (413) follows reports of real
//     stations (masterzen/winrm#156, ansible.windows#391); its fault body
//     is labsim's.
//   - Output code pages: 437, 850 and UTF-8 only; only PowerShell's
//     [Console]::OutputEncoding changes a program's encoding (chcp is not
//     simulated), and no byte-order mark is written.
//   - Faults carry no w:FaultDetail element, and reason and message are
//     the same text.
package labsim
