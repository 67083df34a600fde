package labsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// WS-Management actions and URIs the masterzen/winrm client uses.
const (
	actCreate   = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
	actDelete   = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
	actCommand  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
	actReceive  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
	actSignal   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"
	actSend     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
	actFault    = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
	uriShellCmd = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
	stateDone   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
	stateRun    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"

	defaultOperationTimeout = 60 * time.Second
	// statusControlCExit is the exit code Windows reports for a process
	// ended by a terminate/ctrl_c signal (STATUS_CONTROL_C_EXIT).
	statusControlCExit = 3221225786
)

type soapRequest struct {
	action, messageID, resourceURI, shellID string
	timeout                                 time.Duration
	command                                 string
	args                                    []string
	commandID                               string
	signalCode                              string
	// codepage is the Create's WINRS_CODEPAGE option ("" when absent).
	codepage string
	// maxEnvelope is the client's MaxEnvelopeSize header (0 when absent):
	// no answer may be larger.
	maxEnvelope int
}

func parseSOAP(body []byte) (*soapRequest, error) {
	req := &soapRequest{timeout: defaultOperationTimeout}
	d := xml.NewDecoder(bytes.NewReader(body))
	text := func() (string, error) {
		var b strings.Builder
		for {
			t, err := d.Token()
			if err != nil {
				return "", err
			}
			switch v := t.(type) {
			case xml.CharData:
				b.Write(v)
			case xml.EndElement:
				return b.String(), nil
			case xml.StartElement:
				if err := d.Skip(); err != nil {
					return "", err
				}
			}
		}
	}
	attr := func(se xml.StartElement, name string) string {
		for _, a := range se.Attr {
			if a.Name.Local == name {
				return a.Value
			}
		}
		return ""
	}
	for {
		t, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse SOAP: %w", err)
		}
		se, ok := t.(xml.StartElement)
		if !ok {
			continue
		}
		var dst *string
		switch se.Name.Local {
		case "Action":
			dst = &req.action
		case "MessageID":
			dst = &req.messageID
		case "ResourceURI":
			dst = &req.resourceURI
		case "Selector":
			if attr(se, "Name") == "ShellId" {
				dst = &req.shellID
			}
		case "OperationTimeout":
			s, err := text()
			if err != nil {
				return nil, fmt.Errorf("parse SOAP: %w", err)
			}
			if dur, ok := parseXSDuration(strings.TrimSpace(s)); ok {
				req.timeout = dur
			}
		case "Command":
			dst = &req.command
		case "Arguments":
			s, err := text()
			if err != nil {
				return nil, fmt.Errorf("parse SOAP: %w", err)
			}
			req.args = append(req.args, s)
		case "DesiredStream", "Signal", "Stream":
			if id := attr(se, "CommandId"); id != "" {
				req.commandID = id
			}
		case "Code":
			dst = &req.signalCode
		case "Option":
			if attr(se, "Name") == "WINRS_CODEPAGE" {
				dst = &req.codepage
			}
		case "MaxEnvelopeSize":
			s, err := text()
			if err != nil {
				return nil, fmt.Errorf("parse SOAP: %w", err)
			}
			if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 0 {
				req.maxEnvelope = n
			}
		}
		if dst != nil {
			s, err := text()
			if err != nil {
				return nil, fmt.Errorf("parse SOAP: %w", err)
			}
			*dst = strings.TrimSpace(s)
			if se.Name.Local == "Command" {
				*dst = s // the command text is kept exactly
			}
		}
	}
	if req.action == "" {
		return nil, fmt.Errorf("parse SOAP: no Action header")
	}
	return req, nil
}

var xsDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseXSDuration reads the xs:duration forms WinRM clients send
// ("PT60S", "PT60.000S", "PT1M30S").
func parseXSDuration(s string) (time.Duration, bool) {
	m := xsDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	if m[4] != "" {
		f, _ := strconv.ParseFloat(m[4], 64)
		d += time.Duration(f * float64(time.Second))
	}
	return d, true
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

const envelopeNS = `xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"`

func envelope(action, relatesTo, header, body string) []byte {
	var b strings.Builder
	b.Grow(512 + len(body))
	b.WriteString(`<s:Envelope xml:lang="en-US" ` + envelopeNS + `><s:Header>`)
	b.WriteString(`<a:Action>` + action + `</a:Action>`)
	b.WriteString(`<a:MessageID>uuid:` + newUUID() + `</a:MessageID>`)
	b.WriteString(`<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>`)
	if relatesTo != "" {
		b.WriteString(`<a:RelatesTo>` + xmlEscape(relatesTo) + `</a:RelatesTo>`)
	}
	b.WriteString(header)
	b.WriteString(`</s:Header><s:Body>`)
	b.WriteString(body)
	b.WriteString(`</s:Body></s:Envelope>`)
	return []byte(b.String())
}

// wsmanFault is a SOAP fault shaped like the ones Windows sends: HTTP 500,
// s:Sender for a request the client got wrong (unknown shell, bad XML,
// quota), s:Receiver for the service's own condition (OperationTimeout),
// the w: subcode, and the WSManFault detail with the error code, the
// machine name and the message.
type wsmanFault struct {
	status  int
	code    string // "s:Sender" or "s:Receiver"
	subcode string // e.g. "w:TimedOut"
	wsman   int64  // WSManFault Code, e.g. 2150858793
	message string
}

const (
	sender   = "s:Sender"
	receiver = "s:Receiver"
)

func (h *Host) faultResponse(req *soapRequest, f wsmanFault) (int, []byte) {
	relates := ""
	if req != nil {
		relates = req.messageID
	}
	msg := xmlEscape(f.message)
	body := `<s:Fault><s:Code><s:Value>` + f.code + `</s:Value><s:Subcode><s:Value>` + f.subcode +
		`</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">` + msg +
		`</s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="` +
		strconv.FormatInt(f.wsman, 10) + `" Machine="` + xmlEscape(h.computerName()) + `"><f:Message>` + msg +
		`</f:Message></f:WSManFault></s:Detail></s:Fault>`
	return f.status, envelope(actFault, relates, "", body)
}

var (
	faultTimedOut = wsmanFault{http.StatusInternalServerError, receiver, "w:TimedOut", 2150858793,
		"The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "}
	faultQuota = wsmanFault{http.StatusInternalServerError, sender, "w:QuotaLimit", 2150859174,
		"The WS-Management service cannot process the request. This user is allowed a maximum number of 2 concurrent operations, which has been exceeded. Close existing operations for this user, or raise the quota for this user.  "}
)

func faultNoShell(id string) wsmanFault {
	return wsmanFault{http.StatusInternalServerError, sender, "w:InvalidSelectors", 2150858843,
		"The request for the Windows Remote Shell with ShellId " + id + " failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation. "}
}

func faultNoCommand(id string) wsmanFault {
	return wsmanFault{http.StatusInternalServerError, sender, "w:InvalidParameter", 2150858854,
		"The Windows Remote Shell received a request to perform an operation on a command identifier that does not exist. Either the command has completed execution or the client specified an invalid command identifier. CommandId " + id + ". "}
}

func faultBad(msg string) wsmanFault {
	return wsmanFault{http.StatusInternalServerError, sender, "w:SchemaValidationError", 2150858817, msg}
}

// faultMaxShells is ERROR_WSMAN_QUOTA_MAX_SHELLS (0x803381A5), the answer
// to a Create beyond MaxShellsPerUser.
func faultMaxShells(max int) wsmanFault {
	return wsmanFault{http.StatusInternalServerError, sender, "w:QuotaLimit", 2150859173,
		"The WS-Management service cannot process the request. This user is allowed a maximum number of " + strconv.Itoa(max) +
			" concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. "}
}

// faultEncodingLimit is ERROR_WSMAN_ENCODING_LIMIT (0x80338035) for a
// request over MaxEnvelopeSize. Windows' HTTP status for it is 413, as
// masterzen/winrm#156 and ansible.windows#391 report.
func faultEncodingLimit(size, max int) wsmanFault {
	return wsmanFault{http.StatusRequestEntityTooLarge, sender, "w:EncodingLimit", 2150858805,
		"The WS-Management service cannot process the request because the request size (" + strconv.Itoa(size) +
			" bytes) exceeds the maximum envelope size (MaxEnvelopeSizekb " + strconv.Itoa(max/1024) + "). Reconfigure the client to send messages which fit the encoding limits of the service. "}
}

// handleSOAP dispatches one decrypted SOAP request.
func (h *Host) handleSOAP(epoch, rctx context.Context, body []byte, https bool) (int, []byte) {
	if h.maxEnvelope > 0 && len(body) > h.maxEnvelope {
		return h.faultResponse(nil, faultEncodingLimit(len(body), h.maxEnvelope))
	}
	req, err := parseSOAP(body)
	if err != nil {
		return h.faultResponse(nil, faultBad("The WS-Management service cannot process the request because the XML is invalid. "+err.Error()))
	}
	if req.resourceURI != "" && req.resourceURI != uriShellCmd {
		return h.faultResponse(req, wsmanFault{http.StatusInternalServerError, sender, "w:DestinationUnreachable", 2150858770,
			"The WS-Management service cannot process the request. The resource URI " + req.resourceURI + " is not supported. "})
	}
	switch req.action {
	case actCreate:
		return h.createShell(req, https)
	case actDelete:
		return h.deleteShell(req)
	case actCommand:
		return h.startCommand(req)
	case actReceive:
		if h.powerOffMidCall() {
			// The connection is gone: nothing of this reaches the client.
			return faultTimedOut.status, nil
		}
		return h.receive(epoch, rctx, req)
	case actSignal:
		return h.signal(req)
	case actSend:
		return h.send(req)
	default:
		return h.faultResponse(req, wsmanFault{http.StatusInternalServerError, sender, "a:ActionNotSupported", 2150858757,
			"The WS-Management service cannot process the request because the action " + req.action + " is not supported. "})
	}
}

// envelopeOverhead bounds what a ReceiveResponse envelope holds besides
// the base64 output: headers, stream elements, command state.
const envelopeOverhead = 2048

// receiveOutputLocked is the ReceiveResponse body for the finished
// command's output not sent yet, within an envelope of limit bytes (the
// client's MaxEnvelopeSize; 0: no limit), as Windows splits output over
// several answers. done: this answer carries the rest, the Done state and
// the exit code; otherwise the state is Running and the client asks again.
func receiveOutputLocked(c *command, limit int) (body string, done bool) {
	room := -1 // raw bytes that still fit; -1: no limit
	if limit > 0 {
		room = max((limit-envelopeOverhead)/4*3, 3)
	}
	take := func(data []byte, sent *int) []byte {
		chunk := data[*sent:]
		if room >= 0 {
			chunk = chunk[:min(len(chunk), room)]
			room -= len(chunk)
		}
		*sent += len(chunk)
		return chunk
	}
	out := take(c.stdout, &c.sentOut)
	errOut := take(c.stderr, &c.sentErr)
	done = c.finished && c.sentOut == len(c.stdout) && c.sentErr == len(c.stderr)
	var b strings.Builder
	b.WriteString(`<rsp:ReceiveResponse>`)
	if !done {
		b.WriteString(streamChunkXML("stdout", c.id, out) + streamChunkXML("stderr", c.id, errOut))
		b.WriteString(`<rsp:CommandState CommandId="` + c.id + `" State="` + stateRun + `"/></rsp:ReceiveResponse>`)
		return b.String(), false
	}
	b.WriteString(streamXML("stdout", c.id, out) + streamXML("stderr", c.id, errOut))
	b.WriteString(`<rsp:CommandState CommandId="` + c.id + `" State="` + stateDone + `"><rsp:ExitCode>` +
		strconv.Itoa(c.exit) + `</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>`)
	return b.String(), true
}

// streamChunkXML is one stream element without End, "" for no data.
func streamChunkXML(name, cmdID string, data []byte) string {
	if len(data) == 0 {
		return ""
	}
	return `<rsp:Stream Name="` + name + `" CommandId="` + cmdID + `">` + base64.StdEncoding.EncodeToString(data) + `</rsp:Stream>`
}

func streamXML(name, cmdID string, data []byte) string {
	var b strings.Builder
	if len(data) > 0 {
		b.WriteString(`<rsp:Stream Name="` + name + `" CommandId="` + cmdID + `">`)
		b.WriteString(base64.StdEncoding.EncodeToString(data))
		b.WriteString(`</rsp:Stream>`)
	}
	b.WriteString(`<rsp:Stream Name="` + name + `" CommandId="` + cmdID + `" End="true"></rsp:Stream>`)
	return b.String()
}
