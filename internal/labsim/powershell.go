package labsim

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// powerShellLocked runs powershell.exe with -EncodedCommand (what
// winrm.Powershell produces) or -Command, interpreting the subset in the
// package documentation.
func (h *Host) powerShellLocked(args []string, res *execResult) {
	var script string
	found := false
	for i := 1; i < len(args); i++ {
		a := strings.ToLower(args[i])
		switch {
		case a == "-noprofile" || a == "-nop" || a == "-noninteractive" || a == "-noni" || a == "-nologo":
		case a == "-executionpolicy" || a == "-ep" || a == "-ex" || a == "-inputformat" || a == "-outputformat" || a == "-windowstyle":
			i++
		case len(a) >= 2 && (strings.HasPrefix("-encodedcommand", a) && a != "-" || a == "-ec"):
			if i+1 >= len(args) {
				res.exit = 1
				res.stderr = []byte("Cannot process the command because -EncodedCommand requires an argument.\r\n")
				return
			}
			s, err := decodeEncodedCommand(args[i+1])
			if err != nil {
				res.exit = 1
				res.stderr = []byte("Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded.\r\n")
				return
			}
			script, found = s, true
			i = len(args)
		case a == "-command" || a == "-c":
			script, found = strings.Join(args[i+1:], " "), true
			i = len(args)
		default:
			if strings.HasPrefix(a, "-") {
				res.exit = 1
				res.stderr = []byte(fmt.Sprintf("The specified parameter '%s' is not valid.\r\n", args[i]))
				return
			}
			script, found = strings.Join(args[i:], " "), true
			i = len(args)
		}
	}
	if !found {
		res.exit = 1
		res.stderr = []byte("labsim: interactive powershell.exe is not simulated\r\n")
		return
	}
	r := &psRun{h: h, script: script}
	r.run()
	res.stdout = []byte(r.out.String())
	if r.errs.Len() > 0 {
		res.stderr = []byte(clixmlErrors(r.errs.String()))
	}
	res.exit = r.exitCode
	res.utf8 = r.utf8
}

func decodeEncodedCommand(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", err
	}
	if len(b)%2 != 0 {
		return "", errors.New("odd UTF-16 length")
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

// clixmlErrors serialises error text as powershell.exe does on stderr
// when started with -EncodedCommand over WinRM: "#< CLIXML" then one
// <S S="Error"> element per line, CR LF written as _x000D__x000A_.
func clixmlErrors(text string) string {
	var b strings.Builder
	b.WriteString("#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">")
	for _, line := range strings.SplitAfter(strings.TrimSuffix(text, "\r\n"), "\r\n") {
		line = strings.TrimSuffix(line, "\r\n")
		b.WriteString(`<S S="Error">`)
		b.WriteString(clixmlEscape(line))
		b.WriteString(`_x000D__x000A_</S>`)
	}
	b.WriteString("</Objs>")
	return b.String()
}

// clixmlEscape escapes text as PowerShell's serializer does: XML's & < >,
// "_x" as _x005F_x, and control characters as _xHHHH_.
func clixmlEscape(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '_' && i+1 < len(s) && s[i+1] == 'x':
			b.WriteString("_x005F_")
		case r < 0x20:
			fmt.Fprintf(&b, "_x%04X_", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ---- tokenizer ----

type psTokKind int

const (
	tkWord psTokKind = iota
	tkString
	tkLBrace
	tkRBrace
	tkSep // ; or newline
	tkAssign
	tkPipe
	tkLParen
	tkRParen
)

type psTok struct {
	kind psTokKind
	text string
	pos  int
}

func psTokenize(s string) ([]psTok, error) {
	var toks []psTok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '\n' || c == ';':
			toks = append(toks, psTok{tkSep, string(c), i})
			i++
		case c == '{':
			toks = append(toks, psTok{tkLBrace, "{", i})
			i++
		case c == '}':
			toks = append(toks, psTok{tkRBrace, "}", i})
			i++
		case c == '=':
			toks = append(toks, psTok{tkAssign, "=", i})
			i++
		case c == '|':
			toks = append(toks, psTok{tkPipe, "|", i})
			i++
		case c == '(':
			toks = append(toks, psTok{tkLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, psTok{tkRParen, ")", i})
			i++
		case c == '\'':
			start := i
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("The string is missing the terminator: '.")
			}
			toks = append(toks, psTok{tkString, b.String(), start})
		case c == '"':
			// Double-quoted strings are accepted only without expansion.
			start := i
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("The string is missing the terminator: \".")
			}
			lit := s[i+1 : i+1+j]
			if strings.ContainsAny(lit, "$`") {
				return nil, fmt.Errorf("labsim: expandable strings (\"...$...\") are not in the simulated subset; use single quotes")
			}
			toks = append(toks, psTok{tkString, lit, start})
			i += j + 2
		default:
			start := i
			for i < len(s) && !strings.ContainsRune(" \t\r\n;{}=|'\"()", rune(s[i])) {
				i++
			}
			toks = append(toks, psTok{tkWord, s[start:i], start})
		}
	}
	return toks, nil
}

// ---- parser ----

type psStmt struct {
	kind      string   // "cmd", "assign", "try", "if"
	words     []psTok  // an if's: its condition
	try, catc []psStmt // an if's: then and else
	pos       int
}

type psParser struct {
	toks []psTok
	i    int
}

func (p *psParser) peek() *psTok {
	if p.i < len(p.toks) {
		return &p.toks[p.i]
	}
	return nil
}

func (p *psParser) skipSeps() {
	for t := p.peek(); t != nil && t.kind == tkSep; t = p.peek() {
		p.i++
	}
}

func (p *psParser) block() ([]psStmt, error) {
	p.skipSeps()
	if t := p.peek(); t == nil || t.kind != tkLBrace {
		return nil, errors.New("Missing statement block.")
	}
	p.i++
	stmts, err := p.list(true)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t == nil || t.kind != tkRBrace {
		return nil, errors.New("Missing closing '}' in statement block.")
	}
	p.i++
	return stmts, nil
}

func (p *psParser) list(inBlock bool) ([]psStmt, error) {
	var out []psStmt
	for {
		p.skipSeps()
		t := p.peek()
		if t == nil {
			if inBlock {
				return nil, errors.New("Missing closing '}' in statement block.")
			}
			return out, nil
		}
		if t.kind == tkRBrace {
			if inBlock {
				return out, nil
			}
			return nil, errors.New("Unexpected token '}' in expression or statement.")
		}
		if t.kind == tkWord && strings.EqualFold(t.text, "try") {
			p.i++
			st := psStmt{kind: "try", pos: t.pos}
			var err error
			if st.try, err = p.block(); err != nil {
				return nil, err
			}
			p.skipSeps()
			c := p.peek()
			if c == nil || c.kind != tkWord || !strings.EqualFold(c.text, "catch") {
				return nil, errors.New("The Try statement is missing its Catch or Finally block.")
			}
			p.i++
			if c := p.peek(); c != nil && c.kind == tkWord && strings.HasPrefix(c.text, "[") {
				p.i++ // catch [SomeException]
			}
			if st.catc, err = p.block(); err != nil {
				return nil, err
			}
			out = append(out, st)
			continue
		}
		if t.kind == tkWord && strings.EqualFold(t.text, "if") {
			st, err := p.ifStmt()
			if err != nil {
				return nil, err
			}
			out = append(out, st)
			continue
		}
		st := psStmt{kind: "cmd", pos: t.pos}
		for t := p.peek(); t != nil && t.kind != tkSep && t.kind != tkRBrace; t = p.peek() {
			if t.kind == tkLParen || t.kind == tkRParen {
				return nil, errors.New("labsim: subexpressions are not in the simulated subset")
			}
			if t.kind == tkLBrace {
				return nil, errors.New("labsim: script blocks are not in the simulated subset")
			}
			st.words = append(st.words, *t)
			p.i++
		}
		if len(st.words) >= 2 && st.words[1].kind == tkAssign {
			st.kind = "assign"
		}
		out = append(out, st)
	}
}

// ifStmt parses if (<command>) { ... } [else { ... }]: the condition is
// one command (Test-Path, or $true / $false).
func (p *psParser) ifStmt() (psStmt, error) {
	st := psStmt{kind: "if", pos: p.peek().pos}
	p.i++
	if t := p.peek(); t == nil || t.kind != tkLParen {
		return st, errors.New("Missing '(' after 'if' in if statement.")
	}
	p.i++
	for t := p.peek(); ; t = p.peek() {
		if t == nil || t.kind == tkSep || t.kind == tkLBrace || t.kind == tkRBrace {
			return st, errors.New("Missing closing ')' after expression in 'if' statement.")
		}
		if t.kind == tkRParen {
			p.i++
			break
		}
		if t.kind == tkLParen {
			return st, errors.New("labsim: nested parentheses are not in the simulated subset")
		}
		st.words = append(st.words, *t)
		p.i++
	}
	if len(st.words) == 0 {
		return st, errors.New("If statement is missing the condition after 'if ('.")
	}
	var err error
	if st.try, err = p.block(); err != nil {
		return st, err
	}
	save := p.i
	p.skipSeps()
	if t := p.peek(); t != nil && t.kind == tkWord && strings.EqualFold(t.text, "else") {
		p.i++
		if st.catc, err = p.block(); err != nil {
			return st, err
		}
	} else {
		p.i = save
	}
	return st, nil
}

// ---- interpreter ----

type psRun struct {
	h        *Host
	script   string
	out      strings.Builder
	errs     strings.Builder
	eapStop  bool
	exitCode int
	// lastOK is $? after the last statement run: powershell.exe -Command
	// (and -EncodedCommand) exits 0 when it is true, 1 when not, unless an
	// exit statement or a script-terminating error ended the script.
	lastOK bool
	utf8   bool // [Console]::OutputEncoding was set to UTF-8
}

// psError is an error record; terminating ones unwind to the nearest try.
type psError struct {
	text        string
	terminating bool
}

type psExit struct{ code int }

func (r *psRun) run() {
	toks, err := psTokenize(r.script)
	if err == nil {
		var stmts []psStmt
		p := &psParser{toks: toks}
		stmts, err = p.list(false)
		if err == nil {
			r.lastOK = true
			if r.exec(stmts, false) == nil {
				r.exitCode = 0
				if !r.lastOK {
					r.exitCode = 1
				}
			}
			return
		}
	}
	r.errs.WriteString("At line:1 char:1\r\n+ " + err.Error() + "\r\n    + CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException\r\n    + FullyQualifiedErrorId : ParseError\r\n")
	r.exitCode = 1
}

// exec runs statements; it returns a terminating error or exit that
// unwinds out of this list.
func (r *psRun) exec(stmts []psStmt, inTry bool) any {
	for _, st := range stmts {
		var unwind any
		switch st.kind {
		case "try":
			// $? after try/catch is that of the last statement run inside.
			if u := r.exec(st.try, true); u != nil {
				if _, isExit := u.(psExit); isExit {
					return u
				}
				r.lastOK = true
				unwind = r.exec(st.catc, inTry)
			}
		case "if":
			var cond bool
			cond, unwind = r.condition(st)
			if unwind == nil {
				r.lastOK = true
				branch := st.try
				if !cond {
					branch = st.catc
				}
				if u := r.exec(branch, inTry); u != nil {
					return u
				}
				continue
			}
			r.lastOK = false
		case "assign":
			unwind = r.assign(st)
			r.lastOK = unwind == nil
		default:
			unwind = r.command(st)
			r.lastOK = unwind == nil
		}
		if unwind == nil {
			continue
		}
		switch u := unwind.(type) {
		case psExit:
			r.exitCode = u.code
			return u
		case psError:
			if inTry && (u.terminating || r.eapStop) {
				return u
			}
			r.errs.WriteString(u.text)
			r.lastOK = false
			if r.eapStop {
				// A script-terminating error: powershell.exe exits 1.
				r.exitCode = 1
				return psExit{1}
			}
		}
	}
	return nil
}

func (r *psRun) value(t psTok) string { return t.text }

func (r *psRun) assign(st psStmt) any {
	target := st.words[0].text
	if len(st.words) != 3 {
		return r.notSupported(st)
	}
	val := r.value(st.words[2])
	switch strings.ToLower(target) {
	case "$erroractionpreference":
		r.eapStop = strings.EqualFold(val, "Stop")
	case "[console]::outputencoding":
		r.utf8 = strings.EqualFold(val, "[System.Text.Encoding]::UTF8") || strings.EqualFold(val, "[Text.Encoding]::UTF8")
	case "$progresspreference", "$outputencoding", "$confirmpreference", "$verbosepreference", "$warningpreference":
	default:
		if !strings.HasPrefix(target, "$") {
			return r.notSupported(st)
		}
	}
	return nil
}

func (r *psRun) line(st psStmt) string {
	rest := r.script[st.pos:]
	if i := strings.IndexAny(rest, "\r\n;"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func (r *psRun) notSupported(st psStmt) any {
	return psError{text: fmt.Sprintf("labsim: statement not in the simulated PowerShell subset: %s\r\n", r.line(st)), terminating: true}
}

func (r *psRun) command(st psStmt) any {
	for _, w := range st.words {
		if w.kind == tkPipe {
			return psError{text: "labsim: pipelines are not in the simulated PowerShell subset\r\n", terminating: true}
		}
		if w.kind == tkAssign {
			return r.notSupported(st)
		}
	}
	name := st.words[0].text
	switch strings.ToLower(name) {
	case "get-content", "gc", "cat", "type":
		return r.getContent(st)
	case "set-content", "sc":
		return r.setContent(st)
	case "remove-item", "rm", "del", "erase", "ri":
		return r.removeItem(st)
	case "test-path":
		ok, err := r.testPath(st)
		if err != nil {
			return err
		}
		r.out.WriteString(map[bool]string{true: "True", false: "False"}[ok] + "\r\n")
		return nil
	case "write-output", "echo", "write":
		for _, w := range st.words[1:] {
			r.out.WriteString(r.value(w) + "\r\n")
		}
		return nil
	case "exit":
		code := 0
		if len(st.words) > 1 {
			n, err := strconv.Atoi(st.words[1].text)
			if err != nil {
				return r.notSupported(st)
			}
			code = n
		}
		return psExit{code}
	}
	if st.words[0].kind == tkString {
		// A bare string is written to the output, as PowerShell does.
		if len(st.words) == 1 {
			r.out.WriteString(st.words[0].text + "\r\n")
			return nil
		}
	}
	return psError{terminating: true, text: psErrorText(name,
		fmt.Sprintf("The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.", name),
		fmt.Sprintf("ObjectNotFound: (%s:String) [], CommandNotFoundException", name), "CommandNotFoundException", r.line(st))}
}

func (r *psRun) getContent(st psStmt) any {
	var path string
	raw, tail := false, -1
	stop := r.eapStop
	paramErr := func(msg, id string) any {
		return psError{terminating: true, text: psErrorText("Get-Content", msg, "InvalidArgument: (:) [Get-Content], ParameterBindingException", id+",Microsoft.PowerShell.Commands.GetContentCommand", r.line(st))}
	}
	ws := st.words[1:]
	for i := 0; i < len(ws); i++ {
		w := ws[i]
		if w.kind == tkWord && strings.HasPrefix(w.text, "-") {
			p := strings.ToLower(w.text)
			needArg := func() (string, bool) {
				if i+1 >= len(ws) {
					return "", false
				}
				i++
				return ws[i].text, true
			}
			switch p {
			case "-raw":
				raw = true
			case "-literalpath", "-lp", "-path", "-pspath":
				v, ok := needArg()
				if !ok {
					return paramErr(fmt.Sprintf("Missing an argument for parameter '%s'. Specify a parameter of type 'System.String[]' and try again.", w.text[1:]), "MissingArgument")
				}
				path = v
			case "-tail", "-last":
				v, ok := needArg()
				n, err := strconv.Atoi(v)
				if !ok || err != nil {
					return paramErr(fmt.Sprintf("Cannot bind parameter 'Tail'. Cannot convert value \"%s\" to type \"System.Int32\".", v), "CannotConvertArgumentNoMessage")
				}
				tail = n
			case "-encoding":
				v, ok := needArg()
				switch strings.ToLower(v) {
				case "utf8", "unicode", "ascii", "default", "oem", "utf32", "bigendianunicode", "string", "unknown", "byte", "utf7":
				default:
					if !ok {
						v = ""
					}
					return paramErr(fmt.Sprintf("Cannot bind parameter 'Encoding'. Cannot convert value \"%s\" to type \"Microsoft.PowerShell.Commands.FileSystemCmdletProviderEncoding\".", v), "CannotConvertArgumentNoMessage")
				}
			case "-erroraction", "-ea":
				v, _ := needArg()
				stop = strings.EqualFold(v, "Stop")
			default:
				return paramErr(fmt.Sprintf("A parameter cannot be found that matches parameter name '%s'.", w.text[1:]), "NamedParameterNotFound")
			}
			continue
		}
		if path != "" {
			return paramErr(fmt.Sprintf("A positional parameter cannot be found that accepts argument '%s'.", w.text), "PositionalParameterNotFound")
		}
		path = w.text
	}
	if path == "" {
		return paramErr("labsim: Get-Content without a path would prompt for one.", "MissingMandatoryParameter")
	}
	data, ok := r.h.readFileLocked(path)
	if !ok {
		return psError{terminating: stop, text: psErrorText("Get-Content",
			fmt.Sprintf("Cannot find path '%s' because it does not exist.", path),
			fmt.Sprintf("ObjectNotFound: (%s:String) [Get-Content], ItemNotFoundException", path),
			"PathNotFound,Microsoft.PowerShell.Commands.GetContentCommand", r.line(st))}
	}
	text := strings.TrimPrefix(string(data), "\ufeff")
	if raw && tail < 0 {
		if text != "" {
			r.out.WriteString(text + "\r\n")
		}
		return nil
	}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if tail >= 0 && tail < len(lines) {
		lines = lines[len(lines)-tail:]
	}
	if raw {
		// -Raw with -Tail: one string of the last lines.
		if len(lines) > 0 {
			r.out.WriteString(strings.Join(lines, "\r\n") + "\r\n")
		}
		return nil
	}
	for _, l := range lines {
		r.out.WriteString(l + "\r\n")
	}
	return nil
}

// psErrorText formats an error record the way the console host prints it.
func psErrorText(cmd, msg, category, id, line string) string {
	under := strings.Repeat("~", max(1, len(line)))
	if !strings.Contains(id, ",") && !strings.Contains(category, "CommandNotFound") {
		id += ",Microsoft.PowerShell.Commands.InvokeExpressionCommand"
	}
	return fmt.Sprintf("%s : %s\r\nAt line:1 char:1\r\n+ %s\r\n+ %s\r\n    + CategoryInfo          : %s\r\n    + FullyQualifiedErrorId : %s\r\n",
		cmd, msg, line, under, category, id)
}
