package labsim

import (
	"testing"
	"time"
)

// FuzzUntrustedInput feeds the parsers that see network input: none may
// panic, whatever arrives.
func FuzzUntrustedInput(f *testing.F) {
	f.Add([]byte(`<s:Envelope><s:Header><a:Action>x</a:Action><w:OperationTimeout>PT1S</w:OperationTimeout></s:Header></s:Envelope>`), "Get-Content -LiteralPath 'C:\\x' -Tail 1; try { exit 2 } catch { 'a' }")
	f.Add([]byte("NTLMSSP\x00\x03\x00\x00\x00"), "$ErrorActionPreference = 'Stop'\n}{")
	f.Add([]byte(encBoundary+"\r\n\tOriginalContent: type=x;Length=3\r\n"+encBoundary+"\r\n\tContent-Type: application/octet-stream\r\n\x10\x00\x00\x00"+encBoundary+"--\r\n"), "'unterminated")
	f.Fuzz(func(t *testing.T, data []byte, script string) {
		_, _ = parseSOAP(data)
		_, _ = parseXSDuration(string(data))
		srv, _, err := newChallenge(append([]byte("NTLMSSP\x00\x01\x00\x00\x00\x01\x00\x08\x00"), data...), "LAB-WS-01", time.Unix(0, 0))
		if err == nil {
			_, _ = srv.verify(data, "u", "p")
		}
		s := newNTLMSession(ntlmSeal|ntlmSign|ntlmESS|ntlm128|ntlmKeyExch, make([]byte, 16))
		_, _ = decryptBody(s, data)
		toks, err := psTokenize(script)
		if err == nil {
			p := &psParser{toks: toks}
			_, _ = p.list(false)
		}
	})
}
