package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/ops-worker/ops-worker/internal/ops"
)

// MaxBody is the largest request body accepted (413 above it). The largest
// legitimate body, /api/winrm with a few long arguments, is far below it.
const MaxBody = 64 << 10

// decodeBody reads r's body as exactly one JSON object into dst. An empty
// body is an empty object (every POST of API.md has defaults). The errors
// are *ops.Error values naming what is wrong, never echoing the body.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return ops.Errorf(ops.CodeUnsupportedMedia, "body must be JSON (Content-Type application/json)")
		}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return ops.Errorf(ops.CodeBodyTooLarge, "request body over %d bytes", MaxBody)
		}
		return ops.Wrap(ops.CodeBadRequest, "could not read request body", err)
	}
	return decodeJSON(raw, dst)
}

// decodeJSON is decodeBody without the HTTP part, so the fuzz target drives
// exactly what handlers use.
func decodeJSON(raw []byte, dst any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	if !utf8.Valid(raw) {
		return ops.Errorf(ops.CodeInvalidJSON, "request body is not valid UTF-8")
	}
	if raw[0] != '{' {
		return ops.Errorf(ops.CodeInvalidJSON, "request body must be a JSON object")
	}
	if err := checkDuplicateKeys(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return ops.Errorf(ops.CodeInvalidJSON, "request body must hold exactly one JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return ops.Errorf(ops.CodeInvalidJSON, "request body must be a JSON object")
		}
		return ops.Errorf(ops.CodeInvalidField, "field '%s' must be %s", te.Field, kindName(te.Type.Kind().String()))
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
		return ops.Errorf(ops.CodeInvalidJSON, "request body is not valid JSON")
	}
	return ops.Errorf(ops.CodeInvalidJSON, "request body is not valid JSON")
}

func kindName(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int64", "int32", "float64":
		return "a number"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	case "ptr":
		return "of another type"
	}
	return "of another type"
}

// checkDuplicateKeys refuses an object that names a key twice at any depth
// (encoding/json keeps the last, a proxy or a log reader may see the first,
// so the two could disagree about what was asked) and nesting deeper than
// maxDepth. Syntax errors are left to the real decode, which names them.
func checkDuplicateKeys(raw []byte) error {
	const maxDepth = 32
	type frame struct {
		keys    map[string]struct{} // nil for an array
		wantKey bool
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var stack []frame
	// valueDone marks the end of a value inside an object: a key comes next.
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if len(stack) == maxDepth {
					return ops.Errorf(ops.CodeInvalidJSON, "request body nests deeper than %d levels", maxDepth)
				}
				f := frame{}
				if t == '{' {
					f = frame{keys: map[string]struct{}{}, wantKey: true}
				}
				stack = append(stack, f)
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].keys != nil && stack[n-1].wantKey {
				if _, dup := stack[n-1].keys[t]; dup {
					return ops.Errorf(ops.CodeInvalidJSON, "key '%s' appears twice", escapeLog(truncate(t, 64)))
				}
				stack[n-1].keys[t] = struct{}{}
				stack[n-1].wantKey = false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
