package api

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/secrets"
)

// The bodies of the provisioning routes (GATEWAY.md section 2). The page
// sends connectionId as a number or a string of digits, and labs as a list
// or a comma-separated string; the older worker's snake_case aliases are
// accepted too.

type discoverWire struct {
	ConnectionID      json.RawMessage `json:"connectionId"`
	ConnectionIDSnake json.RawMessage `json:"connection_id"`
}

func (w *discoverWire) request() (ops.DiscoverRequest, error) {
	id, err := connectionID(w.ConnectionID, w.ConnectionIDSnake)
	return ops.DiscoverRequest{ConnectionID: id}, err
}

type provisionWire struct {
	discoverWire
	Name           string          `json:"name"`
	Address        string          `json:"address"`
	MAC            string          `json:"mac"`
	Labs           json.RawMessage `json:"labs"`
	ValidLabIDs    json.RawMessage `json:"validLabIds"`
	CredentialRef  string          `json:"credentialRef"`
	HeartbeatPath  string          `json:"heartbeatPath"`
	EventsPath     string          `json:"eventsPath"`
	WinRMTransport string          `json:"winrmTransport"`
}

func (w *provisionWire) request() (ops.ProvisionRequest, error) {
	id, err := connectionID(w.ConnectionID, w.ConnectionIDSnake)
	if err != nil {
		return ops.ProvisionRequest{}, err
	}
	labs, err := labList("labs", w.Labs)
	if err != nil {
		return ops.ProvisionRequest{}, err
	}
	valid, err := labList("validLabIds", w.ValidLabIDs)
	if err != nil {
		return ops.ProvisionRequest{}, err
	}
	return ops.ProvisionRequest{ConnectionID: id, Name: strings.TrimSpace(w.Name), Address: strings.TrimSpace(w.Address),
		MAC: strings.TrimSpace(w.MAC), Labs: labs, ValidLabIDs: valid, CredentialRef: strings.TrimSpace(w.CredentialRef),
		HeartbeatPath: strings.TrimSpace(w.HeartbeatPath), EventsPath: strings.TrimSpace(w.EventsPath),
		WinRMTransport: strings.TrimSpace(w.WinRMTransport)}, nil
}

// winrmCredentialsWire is POST /api/hosts/winrm-credentials. The password
// becomes a secrets.Secret at once: nothing after this prints it.
type winrmCredentialsWire struct {
	CredentialRef      *string `json:"credentialRef"`
	CredentialRefSnake *string `json:"credential_ref"`
	User               *string `json:"user"`
	Username           *string `json:"username"`
	Password           string  `json:"password"`
}

func (w *winrmCredentialsWire) request() (ops.WinRMCredentialsRequest, error) {
	ref, err := alias("credentialRef", w.CredentialRef, "credential_ref", w.CredentialRefSnake)
	if err != nil {
		return ops.WinRMCredentialsRequest{}, err
	}
	user, err := alias("user", w.User, "username", w.Username)
	if err != nil {
		return ops.WinRMCredentialsRequest{}, err
	}
	return ops.WinRMCredentialsRequest{CredentialRef: ref, User: user, Password: secrets.NewSecret(w.Password)}, nil
}

// connectionID is the connection id as digits: a JSON number or a string;
// "" when neither spelling is given (or null).
func connectionID(a, b json.RawMessage) (string, error) {
	raw := a
	if isAbsent(raw) {
		raw = b
	} else if !isAbsent(b) && !bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b)) {
		return "", ops.Errorf(ops.CodeInvalidField, "fields 'connectionId' and 'connection_id' disagree; give one of them")
	}
	if isAbsent(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s), nil
	}
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&n) != nil {
		return "", ops.Errorf(ops.CodeInvalidField, "connectionId must be a number or a string of digits")
	}
	return n.String(), nil
}

// labList reads a list of lab ids (strings or numbers) or one
// comma-separated string; nil when absent.
func labList(name string, raw json.RawMessage) ([]string, error) {
	if isAbsent(raw) {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		out := []string{}
		for _, p := range strings.Split(one, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, ops.Errorf(ops.CodeInvalidField, "%s must be a list of lab ids or a comma-separated string", name)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		var s string
		if json.Unmarshal(it, &s) != nil {
			var n json.Number
			d := json.NewDecoder(bytes.NewReader(it))
			d.UseNumber()
			if d.Decode(&n) != nil {
				return nil, ops.Errorf(ops.CodeInvalidField, "%s must hold strings or numbers", name)
			}
			s = n.String()
		}
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

func isAbsent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}
