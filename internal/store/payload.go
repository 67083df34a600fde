package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/go-sql-driver/mysql"

	"github.com/ops-worker/ops-worker/internal/domain"
)

// Bounds of a stored operation payload, applied by RecordOperation to every
// payload whoever built it (a step's details, the scheduler's whole flow
// answer), so that no record can outgrow max_allowed_packet (4 MiB on MySQL
// 5.7) or make the timeline answer hundreds of MB.
const (
	// MaxStoredText caps each JSON string of a payload, in bytes as
	// decoded; a cut string under an object key k is flagged with
	// "kTruncated": true (the step records' stdoutTruncated convention).
	MaxStoredText = domain.MaxStoredText
	// MaxPayloadBytes caps a payload as stored. It holds a step record
	// whose stdout and stderr are both MaxStoredText of characters JSON
	// escapes to six bytes (`<>&`): 192 KiB and its small fields, so a
	// step record is never cut below MaxStoredText. A payload still over
	// it has its strings cut shorter, and at last is replaced by a summary.
	MaxPayloadBytes = 256 << 10
	// minStoredText is the shortest cut tried before the summary.
	minStoredText = 64
)

// BoundPayload returns p within MaxStoredText per string and MaxPayloadBytes
// in all, still valid JSON: p itself when it fits (byte for byte), else
// p with its long strings cut (flagged), else {"payloadTruncated": true,
// "payloadBytes": len(p)}. p that is not valid JSON is returned as is.
func BoundPayload(p json.RawMessage) json.RawMessage {
	// A string decodes to at most its encoded length: a payload this
	// short can hold no string over the cap.
	if len(p) <= MaxStoredText {
		return p
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber() // numbers kept as written
	var v any
	if err := dec.Decode(&v); err != nil {
		return p
	}
	for limit := MaxStoredText; limit >= minStoredText; limit /= 4 {
		cutv, cut := cutStrings(v, limit)
		if !cut && len(p) <= MaxPayloadBytes {
			return p
		}
		if !cut {
			continue // nothing this long: a shorter cut may find some
		}
		b, err := json.Marshal(cutv)
		if err == nil && len(b) <= MaxPayloadBytes {
			return b
		}
	}
	return json.RawMessage(`{"payloadTruncated":true,"payloadBytes":` + strconv.Itoa(len(p)) + `}`)
}

// cutStrings returns v with every string longer than limit bytes cut at a
// rune boundary (v itself is not changed), and whether any was cut.
func cutStrings(v any, limit int) (any, bool) {
	switch t := v.(type) {
	case string:
		if len(t) <= limit {
			return t, false
		}
		n := limit
		for n > 0 && t[n]&0xC0 == 0x80 {
			n--
		}
		return t[:n], true
	case []any:
		out, cutAny := make([]any, len(t)), false
		for i, e := range t {
			var c bool
			out[i], c = cutStrings(e, limit)
			cutAny = cutAny || c
		}
		return out, cutAny
	case map[string]any:
		out, cutAny := make(map[string]any, len(t)), false
		for k, e := range t {
			var c bool
			out[k], c = cutStrings(e, limit)
			if c {
				cutAny = true
				if _, isString := e.(string); isString {
					if _, taken := t[k+"Truncated"]; !taken {
						out[k+"Truncated"] = true
					}
				}
			}
		}
		return out, cutAny
	}
	return v, false
}

// Permanent reports a database error that the same statement cannot get
// past by being retried: the packet too large (1153, or the driver's own
// check before sending), a result over max_allowed_packet (1301), SQL
// syntax (1064), constraints (1062 duplicate key, 1451/1452 foreign key,
// 1048 NULL in a NOT NULL column, 4025 a CHECK such as JSON_VALID) and
// values the column refuses (1406 too long, 1366 incorrect, 1264 out of
// range, 3140 invalid JSON on MySQL). Retry loops give up on these at once
// rather than hold their locks for the whole retry window. A server that
// answers 1153 also closes the connection: Permanent is asked before
// IsConnectionError.
func Permanent(err error) bool {
	if errors.Is(err, mysql.ErrPktTooLarge) {
		return true
	}
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case 1153, 1301, 1064, 1062, 1451, 1452, 1048, 4025, 1406, 1366, 1264, 3140:
		return true
	}
	return false
}
