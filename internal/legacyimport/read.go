package legacyimport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/boundedfile"
	"github.com/ops-worker/ops-worker/internal/fernet"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/secrets"
	"github.com/ops-worker/ops-worker/internal/textcut"
)

// MaxFileSize bounds each file read (the older worker's files hold tens of
// entries; a bigger one is not one of them).
const MaxFileSize = 16 << 20

// maxProblems bounds the problems one error lists; the rest are counted.
const maxProblems = 20

// WinRMCredential is one entry of the older worker's WinRM credential file.
type WinRMCredential struct {
	Ref      string // normalised: trimmed, lower case
	User     string
	Password secrets.Secret
}

// PowerCredential is one entry of the older worker's power credential file:
// its type and the fields validate_power_credential kept (all strings).
// Every field is a Secret, the non-secret ones (version, username,
// protocols) too: simpler than knowing which of a type's fields are secret.
type PowerCredential struct {
	Ref    string // normalised: trimmed, lower case
	Type   string // snmpv1, snmpv2c, snmpv3 or netio-http-basic
	Fields map[string]secrets.Secret
}

// ReadWinRMCredentials reads and decrypts every credential of the older
// worker's OPS_CREDENTIALS_PATH file under key (32 raw bytes, see
// fernet.ParseKey). Every problem of the file is reported, and any problem
// returns no credential.
func ReadWinRMCredentials(path string, key []byte) ([]WinRMCredential, error) {
	entries, err := readCredentialFile(path, key)
	if err != nil {
		return nil, err
	}
	var (
		out  []WinRMCredential
		errs problems
	)
	for _, e := range entries {
		user, password, err := winRMPayload(e.plain)
		if err != nil {
			errs.add(fmt.Errorf("%s: credential %s: %w", path, e.ref, err))
			continue
		}
		out = append(out, WinRMCredential{Ref: e.ref, User: user, Password: secrets.NewSecret(password)})
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ReadPowerCredentials reads and decrypts every credential of the older
// worker's OPS_POWER_CREDENTIALS_PATH file under key, checking each against
// the shape validate_power_credential gives its type. All or nothing, as
// ReadWinRMCredentials.
func ReadPowerCredentials(path string, key []byte) ([]PowerCredential, error) {
	entries, err := readCredentialFile(path, key)
	if err != nil {
		return nil, err
	}
	var (
		out  []PowerCredential
		errs problems
	)
	for _, e := range entries {
		fields, err := powerPayload(e.typ, e.plain)
		if err != nil {
			errs.add(fmt.Errorf("%s: credential %s (%s): %w", path, e.ref, e.typ, err))
			continue
		}
		out = append(out, PowerCredential{Ref: e.ref, Type: e.typ, Fields: fields})
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ReadDynamicHosts returns the entries of the older worker's
// OPS_DYNAMIC_CONFIG file ({"hosts": [...]}, as build_provisioned_host
// wrote them), each an object with a "name" of the older worker's host name
// rule, no two named alike ignoring case. The entries are not validated as
// catalog hosts here: adding them through the catalog does that.
func ReadDynamicHosts(path string) ([]json.RawMessage, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object (a truncated or damaged file?): %w", path, err)
	}
	var list []json.RawMessage
	if raw, ok := doc["hosts"]; !ok || json.Unmarshal(raw, &list) != nil || list == nil {
		return nil, fmt.Errorf(`%s: no "hosts" array`, path)
	}
	var errs problems
	seen := make(map[string]int, len(list))
	for i, entry := range list {
		n := i + 1
		name, err := hostName(entry)
		if err != nil {
			errs.add(fmt.Errorf("%s: host entry %d: %w", path, n, err))
			continue
		}
		key := strings.ToLower(name)
		if first, dup := seen[key]; dup {
			errs.add(fmt.Errorf("%s: host entries %d and %d are both named %s (names are compared ignoring case)", path, first, n, name))
			continue
		}
		seen[key] = n
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return list, nil
}

// hostName is the entry's "name", checked against the older worker's
// HOST_NAME_RE (which sanitize_host_name applied before writing it), so a
// name printed in a line of the import's output is plain text.
func hostName(entry json.RawMessage) (string, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(entry, &fields); err != nil || fields == nil {
		return "", errors.New("not a JSON object")
	}
	raw, ok := fields["name"]
	var name string
	if !ok || json.Unmarshal(raw, &name) != nil {
		return "", errors.New(`no "name" string`)
	}
	if len(name) == 0 || len(name) > 128 {
		return "", errors.New("name must have 1 to 128 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return "", fmt.Errorf("name %q: use letters, digits, dots, underscores and hyphens", textcut.Cut(name, 64, "..."))
		}
	}
	return name, nil
}

// credentialEntry is one decrypted entry of a credential file.
type credentialEntry struct {
	ref, typ string
	plain    []byte
}

// readCredentialFile reads the shape both credential files share,
// {"credentials": {"<ref>": {"token": "...", "type": "..."}}}, and decrypts
// every token. A wrong key fails every token alike; a token that fails
// while others decrypt was damaged or altered: the error says which.
func readCredentialFile(path string, key []byte) ([]credentialEntry, error) {
	if len(key) != fernet.KeySize {
		return nil, fmt.Errorf("%s: the OPS_SECRETS_KEY to read it with is missing or not a Fernet key", path)
	}
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object (a truncated or damaged file?): %w", path, err)
	}
	raw, ok := doc["credentials"]
	if !ok {
		return nil, fmt.Errorf(`%s: no "credentials" object`, path)
	}
	members, err := objectMembers(raw)
	if err != nil {
		return nil, fmt.Errorf(`%s: "credentials" is not an object`, path)
	}
	var (
		errs      problems
		out       []credentialEntry
		undecoded []string // refs whose token did not verify
		seen      = make(map[string]string, len(members))
	)
	for _, m := range members {
		shown := showRef(m.key)
		ref, err := hosts.NormalizeCredentialRef(strings.TrimSpace(m.key))
		if err != nil {
			errs.add(fmt.Errorf("%s: credential %s: invalid reference: %w", path, shown, err))
			continue
		}
		if first, dup := seen[ref]; dup {
			errs.add(fmt.Errorf("%s: credentials %s and %s are the same reference %s (references ignore case and surrounding spaces)", path, first, shown, ref))
			continue
		}
		seen[ref] = shown
		var entry struct {
			Token *string `json:"token"`
			Type  *string `json:"type"`
		}
		if err := json.Unmarshal(m.value, &entry); err != nil || entry.Token == nil || *entry.Token == "" {
			errs.add(fmt.Errorf(`%s: credential %s: not an object with a "token" string`, path, ref))
			continue
		}
		typ := ""
		if entry.Type != nil {
			typ = strings.ToLower(strings.TrimSpace(*entry.Type))
		}
		// Stored credentials never expire: no age check (ttl 0).
		plain, err := fernet.Decrypt(key, *entry.Token, time.Time{}, 0)
		if err != nil {
			undecoded = append(undecoded, ref)
			continue
		}
		out = append(out, credentialEntry{ref: ref, typ: typ, plain: plain})
	}
	switch {
	case len(undecoded) > 0 && len(out) == 0:
		// Nothing decrypts: the key, not the tokens.
		more := ""
		if len(undecoded) > 1 {
			more = fmt.Sprintf(" (none of its %d tokens decrypts)", len(undecoded))
		}
		errs.add(fmt.Errorf("cannot decrypt credential %s in %s: wrong OPS_SECRETS_KEY or the file was not written with it%s", undecoded[0], path, more))
	default:
		for _, ref := range undecoded {
			errs.add(fmt.Errorf("cannot decrypt credential %s in %s: its token is damaged or was altered (other credentials of the file decrypt with this key)", ref, path))
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// showRef quotes a reference as found in a file, bounded, for an error.
func showRef(ref string) string { return fmt.Sprintf("%q", textcut.Cut(ref, 64, "...")) }

// readBounded reads path, refusing a file over MaxFileSize.
func readBounded(path string) ([]byte, error) {
	data, err := boundedfile.Read(path, MaxFileSize)
	var tooLarge *boundedfile.TooLargeError
	if errors.As(err, &tooLarge) {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, MaxFileSize>>20)
	}
	return data, err // an open failure's *PathError names the path and the cause
}

type member struct {
	key   string
	value json.RawMessage
}

// objectMembers lists the members of the JSON object raw in order,
// duplicate keys included (a map would keep the last one silently).
func objectMembers(raw json.RawMessage) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string) // object keys are strings
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		out = append(out, member{key: key, value: value})
	}
	return out, nil
}

// problems collects the errors of one read, so an operator sees all of
// them at once; past maxProblems they are counted.
type problems struct {
	errs []error
	more int
}

func (p *problems) add(err error) {
	if len(p.errs) < maxProblems {
		p.errs = append(p.errs, err)
		return
	}
	p.more++
}

func (p *problems) err() error {
	if p.more > 0 {
		return errors.Join(append(p.errs, fmt.Errorf("and %d more problems", p.more))...)
	}
	return errors.Join(p.errs...)
}
