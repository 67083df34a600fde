package winrm

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Decoding of the three answers a call reads (Create, Command, Receive),
// in one streaming pass each with encoding/xml: no tree, no XPath.
// masterzen's parsers build a goxpath tree and run XPath over it (about a
// fifth of the CPU of a heartbeat poll, issue 9), and its Receive parser
// dereferences a nil tree on an answer that is not XML, which is why every
// answer used to be parsed twice (once in guardPanics first). Here a
// malformed answer is an error, and each decoder runs under guardPanics's
// recover all the same (parse).

const (
	nsShell          = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	nsWSMan          = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsAddressing     = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	actionCommandRsp = nsShell + "/CommandResponse"
	stateDone        = nsShell + "/CommandState/Done"
)

// walkAnswer calls fn for every start element of body with a function that
// reads the element's text (character data of the element and its
// children, up to its end). It fails on anything that is not well-formed
// XML.
func walkAnswer(body string, fn func(el xml.StartElement, text func() (string, error)) error) error {
	d := xml.NewDecoder(strings.NewReader(body))
	text := func() (string, error) {
		var b strings.Builder
		for depth := 1; depth > 0; {
			tok, err := d.Token()
			if err != nil {
				return "", err
			}
			switch t := tok.(type) {
			case xml.CharData:
				b.Write(t)
			case xml.StartElement:
				depth++
			case xml.EndElement:
				depth--
			}
		}
		return b.String(), nil
	}
	for elements := 0; ; {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if elements == 0 {
				return errors.New("no XML element")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if el, ok := tok.(xml.StartElement); ok {
			elements++
			if err := fn(el, text); err != nil {
				return err
			}
		}
	}
}

func attr(el xml.StartElement, name string) (string, bool) {
	for _, a := range el.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}

// parseShellID reads the shell ID of a Create answer (the ShellId selector
// of its ResourceCreated reference).
func parseShellID(body string) (string, error) {
	var id string
	err := walkAnswer(body, func(el xml.StartElement, text func() (string, error)) error {
		if id != "" || el.Name.Local != "Selector" || el.Name.Space != nsWSMan {
			return nil
		}
		if name, _ := attr(el, "Name"); name != "ShellId" {
			return nil
		}
		t, err := text()
		id = strings.TrimSpace(t)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("answer is not XML: %w", err)
	}
	return id, nil
}

// parseCommandID reads the command ID of a Command answer, which must say
// it is a CommandResponse.
func parseCommandID(body string) (string, error) {
	var action, id string
	err := walkAnswer(body, func(el xml.StartElement, text func() (string, error)) error {
		var err error
		switch {
		case el.Name.Local == "Action" && el.Name.Space == nsAddressing && action == "":
			action, err = text()
		case el.Name.Local == "CommandId" && el.Name.Space == nsShell && id == "":
			id, err = text()
		}
		return err
	})
	switch {
	case err != nil:
		return "", fmt.Errorf("answer is not XML: %w", err)
	case strings.TrimSpace(action) != actionCommandRsp:
		return "", fmt.Errorf("unsupported action %q", escapeText(strings.TrimSpace(action), 128))
	}
	return strings.TrimSpace(id), nil
}

// parseReceive writes the stdout and stderr streams of a Receive answer to
// stdout and stderr and reports whether the command is done and its exit
// code. A stream that is not base64 is an error (masterzen drops it
// silently).
func parseReceive(body string, stdout, stderr io.Writer) (done bool, exit int, err error) {
	var exitText string
	err = walkAnswer(body, func(el xml.StartElement, text func() (string, error)) error {
		if state, ok := attr(el, "State"); ok && state == stateDone {
			done = true
		}
		if el.Name.Space != nsShell {
			return nil
		}
		switch el.Name.Local {
		case "Stream":
			name, _ := attr(el, "Name")
			var w io.Writer
			switch name {
			case "stdout":
				w = stdout
			case "stderr":
				w = stderr
			default:
				return nil
			}
			t, err := text()
			if err != nil {
				return err
			}
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(t))
			if err != nil {
				return fmt.Errorf("%s stream is not base64: %w", name, err)
			}
			_, err = w.Write(raw)
			return err
		case "ExitCode":
			t, err := text()
			exitText = strings.TrimSpace(t)
			return err
		}
		return nil
	})
	if err != nil {
		return false, 0, err
	}
	if done && exitText != "" {
		if exit, err = strconv.Atoi(exitText); err != nil {
			return false, 0, fmt.Errorf("exit code %q is not a number", escapeText(exitText, 32))
		}
	}
	return done, exit, nil
}
