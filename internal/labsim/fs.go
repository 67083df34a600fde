package labsim

import (
	"fmt"
	"strings"
	"time"
)

// The station's file system, as far as the simulated PowerShell writes
// it: the station's own files (heartbeat, events log, LabStation.exe) and
// the files of Host.SetFile and Set-Content, whose folders exist; a
// folder exists when a file was ever put under it. Windows' failures are
// kept: Set-Content into a folder that does not exist, and writing or
// removing under Faults.DeniedPaths (access denied).

// LocalModeFlagPath is the station's local-mode flag: while the file
// exists, the heartbeat (and status-json) report status.localModeEnabled.
const LocalModeFlagPath = `C:\LabStation\labstation\data\local-mode.flag`

// parentDir is the folder of a normalised path, "" for a root.
func parentDir(p string) string {
	i := strings.LastIndexByte(p, '\\')
	if i <= 0 {
		return ""
	}
	return p[:i]
}

// underDir reports whether normalised path p lies inside folder dir.
func underDir(p, dir string) bool {
	return len(p) > len(dir) && strings.HasPrefix(p, dir) && p[len(dir)] == '\\'
}

// dirExistsLocked reports whether folder p exists on the station.
func (h *Host) dirExistsLocked(p string) bool {
	p = strings.TrimSuffix(normPath(p), `\`)
	if len(p) == 2 && p[1] == ':' {
		return true // a drive
	}
	for _, f := range []string{HeartbeatPath, EventsPath, h.labStationExe} {
		if underDir(normPath(f), p) {
			return true
		}
	}
	for f := range h.files {
		if underDir(f, p) {
			return true
		}
	}
	return h.dirs[p]
}

// deniedLocked reports whether writing or removing p is refused.
func (h *Host) deniedLocked(p string) bool {
	p = normPath(p)
	for _, d := range h.faults.DeniedPaths {
		d = strings.TrimSuffix(normPath(d), `\`)
		if p == d || underDir(p, d) {
			return true
		}
	}
	return false
}

// ownFile reports whether p is one of the files the station's service
// keeps open (the heartbeat and the events log).
func ownFile(p string) bool {
	p = normPath(p)
	return p == normPath(HeartbeatPath) || p == normPath(EventsPath)
}

// flagChangedLocked is called after p was written or removed: a change of
// the local-mode flag makes the station's service rewrite its heartbeat at
// once (a new timestamp, so the worker stores the new document: it keeps
// one row per timestamp), each rewrite at least a second after the last,
// as the timestamps have whole seconds. A real station reports the flag at
// its service's next rewrite, up to its interval later.
func (h *Host) flagChangedLocked(p string) {
	if normPath(p) != normPath(LocalModeFlagPath) {
		return
	}
	prev := h.heartbeatTime()
	t := h.sim.now().UTC().Truncate(time.Second)
	if !t.After(prev) {
		t = prev.Add(time.Second)
	}
	h.rewroteAt = t
}

// localModeLocked reports whether the local-mode flag exists.
func (h *Host) localModeLocked() bool {
	_, ok := h.files[normPath(LocalModeFlagPath)]
	return ok
}

// LocalMode reports whether the station's local-mode flag exists.
func (h *Host) LocalMode() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.localModeLocked()
}

// psParams reads a cmdlet's parameters: known maps each accepted name
// (lower case, with its aliases) to whether it takes a value; positional
// values fill the names of positional in order.
func (r *psRun) psParams(st psStmt, cmdlet, class string, known map[string]bool, positional ...string) (map[string]string, any) {
	paramErr := func(msg, id string) any {
		return psError{terminating: true, text: psErrorText(cmdlet, msg,
			fmt.Sprintf("InvalidArgument: (:) [%s], ParameterBindingException", cmdlet),
			id+",Microsoft.PowerShell.Commands."+class, r.line(st))}
	}
	got := map[string]string{}
	ws := st.words[1:]
	for i := 0; i < len(ws); i++ {
		w := ws[i]
		if w.kind == tkWord && strings.HasPrefix(w.text, "-") && len(w.text) > 1 {
			name := strings.ToLower(w.text[1:])
			takesValue, ok := known[name]
			if !ok {
				return nil, paramErr(fmt.Sprintf("A parameter cannot be found that matches parameter name '%s'.", w.text[1:]), "NamedParameterNotFound")
			}
			if !takesValue {
				got[name] = "true"
				continue
			}
			if i+1 >= len(ws) {
				return nil, paramErr(fmt.Sprintf("Missing an argument for parameter '%s'. Specify a parameter of type 'System.String' and try again.", w.text[1:]), "MissingArgument")
			}
			i++
			got[name] = ws[i].text
			continue
		}
		if len(positional) == 0 {
			return nil, paramErr(fmt.Sprintf("A positional parameter cannot be found that accepts argument '%s'.", w.text), "PositionalParameterNotFound")
		}
		got[positional[0]] = w.text
		positional = positional[1:]
	}
	return got, nil
}

// pathParam is the path given by any of the path parameters' names.
func pathParam(p map[string]string) string {
	for _, k := range []string{"literalpath", "lp", "path", "pspath"} {
		if v, ok := p[k]; ok {
			return v
		}
	}
	return ""
}

// stopFor says whether an error of this statement is terminating.
func (r *psRun) stopFor(p map[string]string) bool {
	if v, ok := p["erroraction"]; ok {
		return strings.EqualFold(v, "Stop")
	}
	if v, ok := p["ea"]; ok {
		return strings.EqualFold(v, "Stop")
	}
	return r.eapStop
}

var pathParams = map[string]bool{"literalpath": true, "lp": true, "path": true, "pspath": true,
	"erroraction": true, "ea": true, "force": false}

func withParams(extra map[string]bool) map[string]bool {
	m := map[string]bool{}
	for k, v := range pathParams {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// setContent is Set-Content <path> [-Value] <text> [-Encoding e]
// [-NoNewline] [-Force]: the file is replaced by text (and CR LF).
func (r *psRun) setContent(st psStmt) any {
	p, perr := r.psParams(st, "Set-Content", "SetContentCommand",
		withParams(map[string]bool{"value": true, "encoding": true, "nonewline": false}), "path", "value")
	if perr != nil {
		return perr
	}
	path := pathParam(p)
	if path == "" {
		return r.notSupported(st) // would prompt for the path
	}
	h := r.h
	np := normPath(path)
	fail := func(msg, category, id string) any {
		return psError{terminating: r.stopFor(p), text: psErrorText("Set-Content", msg, category,
			id+",Microsoft.PowerShell.Commands.SetContentCommand", r.line(st))}
	}
	switch {
	case h.deniedLocked(path) || ownFile(path) || h.dirExistsLocked(path):
		return fail(fmt.Sprintf("Access to the path '%s' is denied.", path),
			fmt.Sprintf("PermissionDenied: (%s:String) [Set-Content], UnauthorizedAccessException", path), "GetContentWriterUnauthorizedAccessError")
	case parentDir(np) == "" || !h.dirExistsLocked(parentDir(np)):
		return fail(fmt.Sprintf("Could not find a part of the path '%s'.", path),
			fmt.Sprintf("ObjectNotFound: (%s:String) [Set-Content], DirectoryNotFoundException", path), "GetContentWriterDirectoryNotFoundError")
	}
	data := p["value"]
	if _, ok := p["nonewline"]; !ok {
		data += "\r\n"
	}
	_, existed := h.files[np]
	h.files[np] = []byte(data)
	if !existed {
		h.flagChangedLocked(np)
	}
	return nil
}

// removeItem is Remove-Item <path> [-Force]: a file only.
func (r *psRun) removeItem(st psStmt) any {
	p, perr := r.psParams(st, "Remove-Item", "RemoveItemCommand", pathParams, "path")
	if perr != nil {
		return perr
	}
	path := pathParam(p)
	if path == "" {
		return r.notSupported(st)
	}
	h := r.h
	np := normPath(path)
	fail := func(msg, category, id string) any {
		return psError{terminating: r.stopFor(p), text: psErrorText("Remove-Item", msg, category,
			id+",Microsoft.PowerShell.Commands.RemoveItemCommand", r.line(st))}
	}
	_, isFile := h.files[np]
	switch {
	case h.dirExistsLocked(path):
		return r.notSupported(st) // removing a folder is outside the subset
	case !isFile && !ownFile(path):
		return fail(fmt.Sprintf("Cannot find path '%s' because it does not exist.", path),
			fmt.Sprintf("ObjectNotFound: (%s:String) [Remove-Item], ItemNotFoundException", path), "PathNotFound")
	case h.deniedLocked(path):
		return fail(fmt.Sprintf("Cannot remove item %s: Access to the path '%s' is denied.", path, path),
			fmt.Sprintf("PermissionDenied: (%s:FileInfo) [Remove-Item], UnauthorizedAccessException", path), "RemoveFileSystemItemUnAuthorizedAccess")
	case ownFile(path):
		return fail(fmt.Sprintf("Cannot remove item %s: The process cannot access the file '%s' because it is being used by another process.", path, path),
			fmt.Sprintf("WriteError: (%s:FileInfo) [Remove-Item], IOException", path), "RemoveFileSystemItemIOError")
	}
	delete(h.files, np)
	h.flagChangedLocked(np)
	return nil
}

// testPath is Test-Path <path> [-PathType Leaf|Container|Any].
func (r *psRun) testPath(st psStmt) (bool, any) {
	p, perr := r.psParams(st, "Test-Path", "TestPathCommand",
		map[string]bool{"literalpath": true, "lp": true, "path": true, "pspath": true, "pathtype": true, "type": true}, "path")
	if perr != nil {
		return false, perr
	}
	path := pathParam(p)
	if path == "" {
		return false, r.notSupported(st)
	}
	_, file := r.h.readFileLocked(path)
	dir := r.h.dirExistsLocked(path)
	switch strings.ToLower(p["pathtype"] + p["type"]) {
	case "leaf":
		return file, nil
	case "container":
		return dir, nil
	case "", "any":
		return file || dir, nil
	}
	return false, r.notSupported(st)
}

// condition evaluates an if's condition: Test-Path, $true or $false.
func (r *psRun) condition(st psStmt) (bool, any) {
	c := psStmt{kind: "cmd", words: st.words, pos: st.words[0].pos}
	switch name := strings.ToLower(st.words[0].text); {
	case name == "test-path" && st.words[0].kind == tkWord:
		return r.testPath(c)
	case len(st.words) == 1 && name == "$true":
		return true, nil
	case len(st.words) == 1 && name == "$false":
		return false, nil
	}
	return false, r.notSupported(c)
}
