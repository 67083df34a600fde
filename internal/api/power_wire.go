package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/powerops"
)

// PowerService is what the power routes (GATEWAY.md section 2's power
// rows) need of the use cases; *powerops.Service has it. It is apart from
// Service so the worker's other use cases (and their fakes) stay as they
// are.
type PowerService interface {
	Controllers(ctx context.Context) (powerops.ControllersResponse, error)
	CreateController(ctx context.Context, raw json.RawMessage, actor string) (powerops.ControllerResponse, error)
	UpdateController(ctx context.Context, id string, raw json.RawMessage, actor string) (powerops.ControllerResponse, error)
	PowerCredentials(ctx context.Context) (powerops.CredentialsResponse, error)
	SavePowerCredential(ctx context.Context, req powerops.SaveCredentialRequest) (powerops.SaveCredentialResponse, error)
	Policies(ctx context.Context) (powerops.PoliciesResponse, error)
	PutPolicy(ctx context.Context, labID string, raw json.RawMessage, actor string) (powerops.PolicyResponse, error)
	OutletCommand(ctx context.Context, req powerops.CommandRequest) (powerops.CommandResponse, error)
	RunPhase(ctx context.Context, req powerops.PhaseRequest) (powerops.PhaseResponse, error)
	Operations(ctx context.Context, reservationID string) (powerops.OperationsResponse, error)
}

var errNoPower = ops.Errorf(ops.CodePowerNotConfigured, "Power control not configured (no database)")

// objectBody checks raw is one JSON object (UTF-8, no duplicate keys) and
// returns it for the use case's own strict decoding (power.ParseController,
// ParsePolicy), which knows the catalog's fields and refuses the others.
func objectBody(raw []byte) (json.RawMessage, []string, error) {
	var m map[string]json.RawMessage
	if err := decodeStrict(raw, &m); err != nil {
		return nil, nil, err
	}
	return json.RawMessage(raw), nil, nil
}

type powerCredentialWire struct {
	CredentialRef string         `json:"credentialRef"`
	Type          string         `json:"type"`
	Credentials   map[string]any `json:"credentials"`
	Overwrite     bool           `json:"overwrite"`
	Actor         string         `json:"actor"`
}

func (w *powerCredentialWire) request() (powerops.SaveCredentialRequest, error) {
	if strings.TrimSpace(w.CredentialRef) == "" {
		return powerops.SaveCredentialRequest{}, ops.Errorf(ops.CodeBadRequest, "credentialRef is required")
	}
	if w.Credentials == nil {
		return powerops.SaveCredentialRequest{}, ops.Errorf(ops.CodeBadRequest, "credentials is required")
	}
	return powerops.SaveCredentialRequest{CredentialRef: w.CredentialRef, Type: strings.TrimSpace(w.Type),
		Credentials: w.Credentials, Overwrite: w.Overwrite, Actor: w.Actor}, nil
}

type outletCommandWire struct {
	Command        string `json:"command"`
	State          string `json:"state"`
	OffSeconds     *int   `json:"offSeconds"`
	Actor          string `json:"actor"`
	Reason         string `json:"reason"`
	IdempotencyKey string `json:"idempotencyKey"`
	AllowProtected bool   `json:"allowProtected"`
	Maintenance    bool   `json:"maintenance"`
}

func (w *outletCommandWire) request() (powerops.CommandRequest, error) {
	if strings.TrimSpace(w.Command) == "" {
		return powerops.CommandRequest{}, ops.Errorf(ops.CodeBadRequest, "command is required")
	}
	if strings.TrimSpace(w.IdempotencyKey) == "" {
		return powerops.CommandRequest{}, ops.Errorf(ops.CodeBadRequest, "idempotencyKey is required")
	}
	return powerops.CommandRequest{Command: strings.ToLower(strings.TrimSpace(w.Command)), State: strings.ToLower(strings.TrimSpace(w.State)),
		OffSeconds: w.OffSeconds, Actor: w.Actor, Reason: w.Reason, IdempotencyKey: w.IdempotencyKey,
		AllowProtected: w.AllowProtected, Maintenance: w.Maintenance}, nil
}

type labPowerWire struct {
	ReservationID      string `json:"reservationId"`
	ReservationIDSnake string `json:"reservation_id"`
	Actor              string `json:"actor"`
	DryRun             bool   `json:"dryRun"`
}

func (w *labPowerWire) request() (powerops.PhaseRequest, error) {
	id := strings.TrimSpace(w.ReservationID)
	if id == "" {
		id = strings.TrimSpace(w.ReservationIDSnake)
	}
	if id == "" {
		return powerops.PhaseRequest{}, ops.Errorf(ops.CodeBadRequest, "reservationId is required")
	}
	return powerops.PhaseRequest{ReservationID: id, Actor: w.Actor, DryRun: w.DryRun}, nil
}

// pathValue is a path parameter, refused when empty or oversized.
func pathValue(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	if v == "" || len(v) > 128 {
		return "", ops.Errorf(ops.CodeBadRequest, "%s must be 1 to 128 characters", name)
	}
	return v, nil
}

// withBody is a route with a body and path parameters: read, decode,
// bind the path, call, answer.
func withBody[R, S any](parse func([]byte) (R, []string, error), call func(*http.Request, R) (S, error), status func(S) int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := readBody(w, r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		req, unknown, err := parse(raw)
		if err != nil {
			writeError(w, r, err)
			return
		}
		logUnknown(r, unknown)
		resp, err := call(r, req)
		code := http.StatusOK
		if err == nil && status != nil {
			code = status(resp)
		}
		respond(w, r, code, resp, err)
	})
}

// powerHandlers are the power routes' handlers; svc nil: each answers 503
// POWER_NOT_CONFIGURED.
func powerHandlers(svc PowerService) map[string]http.Handler {
	if svc == nil {
		off := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeError(w, r, errNoPower) })
		m := map[string]http.Handler{}
		for _, rt := range Routes {
			if isPowerRoute(rt.Name) {
				m[rt.Name] = off
			}
		}
		return m
	}
	const actor = "lab-manager"
	phase := func(p string) http.Handler {
		return withBody(parseBody[labPowerWire], func(r *http.Request, req powerops.PhaseRequest) (powerops.PhaseResponse, error) {
			lab, err := pathValue(r, "labId")
			if err != nil {
				return powerops.PhaseResponse{}, err
			}
			req.LabID, req.Phase = lab, p
			return svc.RunPhase(r.Context(), req)
		}, powerops.PhaseResponse.HTTPStatus)
	}
	return map[string]http.Handler{
		"power-controllers-list": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			resp, err := svc.Controllers(r.Context())
			respond(w, r, http.StatusOK, resp, err)
		}),
		"power-controllers-create": withBody(objectBody, func(r *http.Request, raw json.RawMessage) (powerops.ControllerResponse, error) {
			return svc.CreateController(r.Context(), raw, actor)
		}, powerops.ControllerResponse.HTTPStatus),
		"power-controllers-update": withBody(objectBody, func(r *http.Request, raw json.RawMessage) (powerops.ControllerResponse, error) {
			id, err := pathValue(r, "id")
			if err != nil {
				return powerops.ControllerResponse{}, err
			}
			return svc.UpdateController(r.Context(), id, raw, actor)
		}, nil),
		"power-credentials-list": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			resp, err := svc.PowerCredentials(r.Context())
			respond(w, r, http.StatusOK, resp, err)
		}),
		"power-credentials-save": withBody(parseBody[powerCredentialWire], func(r *http.Request, req powerops.SaveCredentialRequest) (powerops.SaveCredentialResponse, error) {
			return svc.SavePowerCredential(r.Context(), req)
		}, powerops.SaveCredentialResponse.HTTPStatus),
		"power-policies-list": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			resp, err := svc.Policies(r.Context())
			respond(w, r, http.StatusOK, resp, err)
		}),
		"power-policies-put": withBody(objectBody, func(r *http.Request, raw json.RawMessage) (powerops.PolicyResponse, error) {
			lab, err := pathValue(r, "labId")
			if err != nil {
				return powerops.PolicyResponse{}, err
			}
			return svc.PutPolicy(r.Context(), lab, raw, actor)
		}, nil),
		"power-outlet-command": withBody(parseBody[outletCommandWire], func(r *http.Request, req powerops.CommandRequest) (powerops.CommandResponse, error) {
			c, err := pathValue(r, "controllerId")
			if err != nil {
				return powerops.CommandResponse{}, err
			}
			o, err := pathValue(r, "outlet")
			if err != nil {
				return powerops.CommandResponse{}, err
			}
			req.ControllerID, req.Outlet = c, o
			return svc.OutletCommand(r.Context(), req)
		}, powerops.CommandResponse.HTTPStatus),
		"lab-power-start": phase("pre_start"),
		"lab-power-end":   phase("post_end"),
		"power-operations": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q, err := query(r.URL.RawQuery, "reservationId", "reservation_id")
			if err != nil {
				writeError(w, r, err)
				return
			}
			id, err := queryAlias(q, "reservationId", "reservation_id")
			if err != nil {
				writeError(w, r, err)
				return
			}
			resp, err := svc.Operations(r.Context(), id)
			respond(w, r, http.StatusOK, resp, err)
		}),
	}
}

func isPowerRoute(name string) bool {
	return strings.HasPrefix(name, "power-") || strings.HasPrefix(name, "lab-power-")
}
