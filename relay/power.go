package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/boundedfile"
	"github.com/ops-worker/ops-worker/internal/credentials"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/power/drivers"
	"github.com/ops-worker/ops-worker/internal/relayproto"
)

// maxPowerFile bounds RELAY_POWER_CONFIG.
const maxPowerFile = 1 << 20

// maxCycleOff bounds a cycle's off time (the catalog's offSeconds are
// bounded well below it).
const maxCycleOff = time.Hour

// PowerController is one power controller of the relay's own
// configuration: its catalog definition (the outlets the relay may
// switch) and its driver, which holds the credential.
type PowerController struct {
	Controller power.Controller
	Driver     power.Driver
}

// powerFile is RELAY_POWER_CONFIG: the catalog's controller bodies (as
// POST /api/power/controllers takes them), each with its credential
// inline, a value "env:NAME" read from the relay's environment:
//
//	{"controllers": [{"id": "pdu-lab2", "driver": "apc-powernet-snmp", "host": "10.1.2.50",
//	  "outlets": [{"outlet": "1"}, {"outlet": "2"}],
//	  "credential": {"type": "snmpv2c", "community": "env:PDU_LAB2_COMMUNITY"}}]}
type powerFile struct {
	Controllers []json.RawMessage `json:"controllers"`
}

// LoadPower reads the relay's power controllers from path and builds
// their drivers; lookup resolves env:NAME (nil: the process environment). Every problem is reported, naming the controller and the
// field, never a credential's value.
func LoadPower(path string, lookup hosts.LookupEnv, logger *slog.Logger) (map[string]PowerController, error) {
	data, err := boundedfile.Read(path, maxPowerFile)
	if err != nil {
		return nil, fmt.Errorf("power configuration: %w", err)
	}
	var f powerFile
	if err := Decode(data, &f); err != nil {
		return nil, fmt.Errorf("power configuration %s: %v", path, err)
	}
	out := map[string]PowerController{}
	for i, raw := range f.Controllers {
		pc, err := loadController(raw, lookup, logger)
		if err != nil {
			return nil, fmt.Errorf("power configuration %s: controllers[%d]: %w", path, i, err)
		}
		key := strings.ToLower(pc.Controller.ID)
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("power configuration %s: controller %s is given twice", path, pc.Controller.ID)
		}
		out[key] = pc
	}
	return out, nil
}

func loadController(raw json.RawMessage, lookup hosts.LookupEnv, logger *slog.Logger) (PowerController, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return PowerController{}, fmt.Errorf("not an object")
	}
	credRaw, hasCred := fields["credential"]
	delete(fields, "credential")
	if _, ok := fields["credentialRef"]; !ok && hasCred {
		// The credential is inline; the catalog's rule that an APC
		// controller names one holds all the same.
		fields["credentialRef"] = fields["id"]
	}
	body, _ := json.Marshal(fields)
	ctl, err := power.ParseController(body)
	if err != nil {
		return PowerController{}, err
	}
	var typ string
	var creds map[string]string
	if hasCred {
		if typ, creds, err = parseCredential(credRaw, lookup); err != nil {
			return PowerController{}, fmt.Errorf("controller %s: credential: %w", ctl.ID, err)
		}
	} else if ctl.Driver == power.DriverAPC {
		return PowerController{}, fmt.Errorf("controller %s: driver %s requires a credential", ctl.ID, ctl.Driver)
	}
	d, err := drivers.New(ctl.Driver, ctl.Host, ctl.Port, ctl.Config, typ, creds, drivers.Options{Logger: logger})
	if err != nil {
		return PowerController{}, fmt.Errorf("controller %s: %w", ctl.ID, err)
	}
	return PowerController{Controller: ctl, Driver: d}, nil
}

// parseCredential is an inline credential: "type" and the type's fields,
// each a value or "env:NAME", checked as the credential store checks them.
func parseCredential(raw json.RawMessage, lookup hosts.LookupEnv) (string, map[string]string, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", nil, fmt.Errorf("must be an object of text fields")
	}
	typ, _ := m["type"].(string)
	delete(m, "type")
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			continue // the store's validation names the field
		}
		val, err := hosts.ResolveEnv(s, lookup)
		if err != nil {
			return "", nil, fmt.Errorf("field %s: %w", k, err)
		}
		m[k] = val
	}
	t, fields, err := credentials.ValidatePower(typ, m)
	if err != nil {
		return "", nil, err
	}
	return t, fields, nil
}

// power calls one controller of the relay's power configuration. A
// controller it does not hold is refused (403), as is an outlet that the
// configuration does not list for it; a driver failure is answered 200
// with its code, for the worker to fail exactly as its own driver would.
func (s *Server) power(ctx context.Context, body []byte, a *audit) (any, error) {
	var req relayproto.PowerRequest
	if err := Decode(body, &req); err != nil {
		return nil, err
	}
	a.host = truncate(req.Controller, 64)
	pc, ok := s.Power[strings.ToLower(req.Controller)]
	if !ok {
		return nil, refuse(http.StatusForbidden, relayproto.KindNotInCatalog, "power controller %q is not in the relay's power configuration", truncate(req.Controller, 64))
	}
	a.host = pc.Controller.ID
	a.attrs = append(a.attrs, "op", truncate(req.Op, 16))
	if err := checkPowerRequest(req, pc.Controller); err != nil {
		return nil, err
	}
	if req.Outlet != "" {
		a.attrs = append(a.attrs, "outlet", req.Outlet)
	}
	release, err := s.slot(ctx, "power:"+pc.Controller.ID)
	if err != nil {
		return nil, err
	}
	defer release()
	var out relayproto.PowerResponse
	switch req.Op {
	case relayproto.PowerDescribe:
		var d power.Description
		if d, err = pc.Driver.Describe(ctx); err == nil {
			out.Description = &d
		}
	case relayproto.PowerOutlets:
		out.Outlets, err = pc.Driver.Outlets(ctx)
		if err == nil && out.Outlets == nil {
			out.Outlets = []power.OutletState{}
		}
	case relayproto.PowerSet:
		var st power.OutletState
		if st, err = pc.Driver.Set(ctx, req.Outlet, req.State); err == nil {
			out.Outlet = &st
		}
	case relayproto.PowerCycle:
		var st power.OutletState
		if st, err = pc.Driver.Cycle(ctx, req.Outlet, time.Duration(req.OffMs)*time.Millisecond); err == nil {
			out.Outlet = &st
		}
	}
	if err != nil {
		// Only a power error's Message goes back: its cause stays here.
		code, msg := power.CodeUnreachable, "the controller did not answer in time"
		var pe *power.Error
		if errors.As(err, &pe) {
			code, msg = pe.Code, pe.Message
		}
		out.Error = &relayproto.PowerError{Code: code, Message: msg}
		a.attrs = append(a.attrs, "code", code)
		s.log().InfoContext(ctx, "relay power call failed", "controller", pc.Controller.ID, "op", req.Op, "code", code, "err", err)
	}
	return out, nil
}

// checkPowerRequest refuses an op the relay does not know, and for set and
// cycle an outlet the configuration does not list or a state or off time
// out of range.
func checkPowerRequest(req relayproto.PowerRequest, c power.Controller) error {
	switch req.Op {
	case relayproto.PowerDescribe, relayproto.PowerOutlets:
		return nil
	case relayproto.PowerSet, relayproto.PowerCycle:
	default:
		return refuse(http.StatusBadRequest, relayproto.KindBadRequest, "op must be %s, %s, %s or %s",
			relayproto.PowerDescribe, relayproto.PowerOutlets, relayproto.PowerSet, relayproto.PowerCycle)
	}
	if _, ok := c.Outlet(req.Outlet); !ok {
		return refuse(http.StatusForbidden, relayproto.KindNotInCatalog, "outlet %q of controller %s is not in the relay's power configuration", truncate(req.Outlet, 32), c.ID)
	}
	if req.Op == relayproto.PowerSet && !slices.Contains([]string{power.StateOn, power.StateOff}, req.State) {
		return refuse(http.StatusBadRequest, relayproto.KindBadRequest, "state must be on or off")
	}
	if req.Op == relayproto.PowerCycle && (req.OffMs < 0 || time.Duration(req.OffMs)*time.Millisecond > maxCycleOff) {
		return refuse(http.StatusBadRequest, relayproto.KindBadRequest, "off_ms must be between 0 and %d", maxCycleOff.Milliseconds())
	}
	return nil
}
