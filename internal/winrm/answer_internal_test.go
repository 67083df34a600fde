package winrm

import (
	"bytes"
	"strings"
	"testing"

	mzwinrm "github.com/masterzen/winrm"
)

// Answers as Windows (and labsim) send them.
const (
	createAnswer  = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse</a:Action></s:Header><s:Body><x:ResourceCreated xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer"><a:Address>https://h:5986/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">9A5C6E4B-1B4C-4E8A-9E0B-0F0D3C2B1A00</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated><rsp:Shell><rsp:ShellId>9A5C6E4B-1B4C-4E8A-9E0B-0F0D3C2B1A00</rsp:ShellId></rsp:Shell></s:Body></s:Envelope>`
	commandAnswer = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header><a:Action>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse</a:Action></s:Header><s:Body><rsp:CommandResponse><rsp:CommandId>11111111-2222-3333-4444-555555555555</rsp:CommandId></rsp:CommandResponse></s:Body></s:Envelope>`
	receiveAnswer = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header><a:Action>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse</a:Action></s:Header><s:Body><rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="C">aGVsbG8g</rsp:Stream><rsp:Stream Name="stdout" CommandId="C">d29ybGQ=</rsp:Stream><rsp:Stream Name="stderr" CommandId="C">b29wcw==</rsp:Stream><rsp:Stream Name="stdout" CommandId="C" End="true"></rsp:Stream><rsp:CommandState CommandId="C" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"><rsp:ExitCode>3221225786</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse></s:Body></s:Envelope>`
)

// Our decoders read what masterzen's read from the same answers.
func TestAnswers_SameAsMasterzen(t *testing.T) {
	id, err := parseShellID(createAnswer)
	want, _ := mzwinrm.ParseOpenShellResponse(createAnswer)
	if err != nil || id != want || id == "" {
		t.Errorf("shell id %q, %v; masterzen %q", id, err, want)
	}
	cmd, err := parseCommandID(commandAnswer)
	want, _ = mzwinrm.ParseExecuteCommandResponse(commandAnswer)
	if err != nil || cmd != want || cmd == "" {
		t.Errorf("command id %q, %v; masterzen %q", cmd, err, want)
	}
	if _, err := parseCommandID(strings.Replace(commandAnswer, "CommandResponse</a:Action>", "Other</a:Action>", 1)); err == nil {
		t.Error("a Command answer with another action was accepted")
	}
	for _, body := range []string{receiveAnswer, strings.Replace(receiveAnswer, "CommandState/Done", "CommandState/Running", 1)} {
		var o1, e1, o2, e2 bytes.Buffer
		done, exit, err := parseReceive(body, &o1, &e1)
		mdone, mexit, _ := mzwinrm.ParseSlurpOutputErrResponse(body, &o2, &e2)
		if err != nil || done != mdone || exit != mexit || o1.String() != o2.String() || e1.String() != e2.String() {
			t.Errorf("receive: done %v exit %d out %q err %q (%v); masterzen done %v exit %d out %q err %q",
				done, exit, o1.String(), e1.String(), err, mdone, mexit, o2.String(), e2.String())
		}
	}
	var o, e bytes.Buffer
	if done, exit, err := parseReceive(receiveAnswer, &o, &e); !done || exit != 3221225786 || o.String() != "hello world" || e.String() != "oops" {
		t.Errorf("receive = %v %d %q %q %v", done, exit, o.String(), e.String(), err)
	}
}

// Whatever a station sends, the decoders return (an error or a result),
// never panic, and a stream that is not base64 is an error.
func FuzzParseReceive(f *testing.F) {
	for _, s := range []string{receiveAnswer, createAnswer, commandAnswer, "", "<", "not xml", "<a><b></a>",
		strings.Replace(receiveAnswer, "aGVsbG8g", "!!!", 1), strings.Replace(receiveAnswer, "3221225786", "x", 1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var o, e bytes.Buffer
		_, _, _ = parseReceive(body, &o, &e)
		_, _ = parseShellID(body)
		_, _ = parseCommandID(body)
	})
}

func TestParseReceive_Refuses(t *testing.T) {
	for name, body := range map[string]string{
		"not xml":       "garbage",
		"unclosed":      receiveAnswer[:len(receiveAnswer)-20],
		"bad base64":    strings.Replace(receiveAnswer, "aGVsbG8g", "!!!", 1),
		"bad exit code": strings.Replace(receiveAnswer, "3221225786", "x", 1),
	} {
		var o, e bytes.Buffer
		if _, _, err := parseReceive(body, &o, &e); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// go test -run '^$' -bench ParseAnswers ./internal/winrm
func BenchmarkParseAnswers(b *testing.B) {
	b.ReportAllocs()
	var o, e bytes.Buffer
	for b.Loop() {
		o.Reset()
		e.Reset()
		if _, err := parseShellID(createAnswer); err != nil {
			b.Fatal(err)
		}
		if _, err := parseCommandID(commandAnswer); err != nil {
			b.Fatal(err)
		}
		if _, _, err := parseReceive(receiveAnswer, &o, &e); err != nil {
			b.Fatal(err)
		}
	}
}
