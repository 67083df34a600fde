package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/textcut"
)

// MaxBody is the largest request body accepted (413 above it). The largest
// legitimate body, /api/winrm with a few long arguments, is far below it.
const MaxBody = 64 << 10

// readBody reads r's body under MaxBody after checking that its
// Content-Type (when given) is JSON. The errors are *ops.Error values (415,
// 413, 400).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return nil, ops.Errorf(ops.CodeUnsupportedMedia, "body must be JSON (Content-Type application/json)")
		}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, ops.Errorf(ops.CodeBodyTooLarge, "request body over %d bytes", MaxBody)
		}
		return nil, ops.Wrap(ops.CodeBadRequest, "could not read request body", err)
	}
	return raw, nil
}

// decodeJSON decodes raw as exactly one JSON object into dst. An empty
// body is an empty object (every POST of API.md has defaults). The errors
// are *ops.Error values naming what is wrong, never echoing the body.
func decodeJSON(raw []byte, dst any) error {
	_, err := decodeJSONFields(raw, dst)
	return err
}

// decodeJSONFields is decodeJSON that also returns the names of the fields
// dst does not know (tolerated: see wire.go), as dotted paths.
func decodeJSONFields(raw []byte, dst any) ([]string, error) {
	if err := decodeStrict(raw, dst); err != nil {
		return nil, err
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil
	}
	var unknown []string
	if err := checkFields(raw, reflect.TypeOf(dst), "", &unknown); err != nil {
		return nil, err
	}
	return unknown, nil
}

func decodeStrict(raw []byte, dst any) error {
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
		return jsonError(err, reflect.TypeOf(dst))
	}
	if _, err := dec.Token(); err != io.EOF {
		return ops.Errorf(ops.CodeInvalidJSON, "request body must hold exactly one JSON object")
	}
	return nil
}

func jsonError(err error, dst reflect.Type) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return ops.Errorf(ops.CodeInvalidJSON, "request body must be a JSON object")
		}
		return ops.Errorf(ops.CodeInvalidField, "field '%s' must be %s", jsonPath(dst, te.Field), kindName(te.Type.Kind().String()))
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
	case "int", "int64", "int32":
		return "an integer"
	case "float64":
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

// truncate bounds a caller's key or name quoted in a message (valid UTF-8:
// never cut inside a character).
func truncate(s string, n int) string { return textcut.Cut(s, n, "...") }

// checkFields walks a body that already decoded into t and does what
// encoding/json does not: it refuses a key that matches a known field only
// case-insensitively (encoding/json would take "HOST" for "host", so a
// body could say two things at once that the duplicate check does not
// see) and a null inside an array of strings (encoding/json would make it
// ""); it collects the unknown keys.
func checkFields(raw json.RawMessage, t reflect.Type, prefix string, unknown *[]string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil || obj == nil {
			return nil // null: not given
		}
		known := map[string]reflect.Type{}
		jsonFields(t, known)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if ft, ok := known[k]; ok {
				if err := checkFields(obj[k], ft, prefix+k+".", unknown); err != nil {
					return err
				}
				continue
			}
			for name := range known {
				if strings.EqualFold(name, k) {
					return ops.Errorf(ops.CodeInvalidField, "field '%s%s' is not known (names are case-sensitive: '%s')",
						prefix, escapeLog(truncate(k, 64)), name)
				}
			}
			*unknown = append(*unknown, prefix+k)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return nil
		}
		for _, it := range items {
			if string(it) == "null" {
				return ops.Errorf(ops.CodeInvalidField, "field '%s' must be an array of strings", strings.TrimSuffix(prefix, "."))
			}
		}
	}
	return nil
}

// jsonPath is encoding/json's path of a field as the caller wrote it:
// encoding/json names an embedded struct by its Go type name
// ("reservationIDs.host"), which the caller never saw.
func jsonPath(t reflect.Type, path string) string {
	var out []string
	for seg := range strings.SplitSeq(path, ".") {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			out, t = append(out, seg), nil
			continue
		}
		if f, ok := t.FieldByName(seg); ok && f.Anonymous && f.Tag.Get("json") == "" {
			t = f.Type
			continue
		}
		known := map[string]reflect.Type{}
		jsonFields(t, known)
		out, t = append(out, seg), known[seg]
	}
	return strings.Join(out, ".")
}

// jsonFields adds the JSON names of t's fields (embedded structs
// flattened, as encoding/json does) to known.
func jsonFields(t reflect.Type, known map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" {
			jsonFields(f.Type, known)
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		known[name] = f.Type
	}
}

// logUnknown logs the names of the tolerated unknown fields of a body (at
// most ten, each short and on one line; never their values).
func logUnknown(r *http.Request, names []string) {
	if len(names) == 0 {
		return
	}
	if len(names) > 10 {
		names = append(names[:10:10], "...")
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = escapeLog(truncate(n, 64))
	}
	loggerFrom(r.Context()).Info("unknown fields ignored", "fields", out)
}
