package relayclient

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ops-worker/ops-worker/internal/power"
	"github.com/ops-worker/ops-worker/internal/relayproto"
	"github.com/ops-worker/ops-worker/internal/textcut"
)

// PowerDriver is a power controller behind a relay: every call is one
// signed request to the relay, which drives the controller of its own
// configuration by the same id with its own credential. It fails with the
// same *power.Error codes as a driver on this machine.
type PowerDriver struct {
	Client     *Client
	Controller string // the controller's id, in both catalogs
}

var _ power.Driver = PowerDriver{}

// codes are the codes a relay may answer; any other is a bad response.
var codes = []string{power.CodeUnreachable, power.CodeAuth, power.CodeUnsupportedProfile, power.CodeOutletUnknown,
	power.CodeReadBackMismatch, power.CodeBadResponse, power.CodeConfig}

func (d PowerDriver) call(ctx context.Context, req relayproto.PowerRequest) (relayproto.PowerResponse, error) {
	req.Controller = d.Controller
	var out relayproto.PowerResponse
	err := d.Client.call(ctx, http.MethodPost, relayproto.PathPower, req, &out)
	if err == nil {
		if out.Error == nil {
			return out, nil
		}
		code := out.Error.Code
		if !slices.Contains(codes, code) {
			code = power.CodeBadResponse
		}
		return out, &power.Error{Code: code, Message: "through the relay: " + clean(out.Error.Message)}
	}
	var e *relayproto.Error
	switch {
	case errors.As(err, &e) && e.Kind == relayproto.KindNotInCatalog:
		return out, &power.Error{Code: power.CodeConfig, Message: "the relay refused: " + clean(e.Message)}
	case errors.As(err, &e) && e.Kind == relayproto.KindUnavailable:
		return out, &power.Error{Code: power.CodeUnreachable, Message: "the relay is busy: " + clean(e.Message)}
	case errors.As(err, &e) && e.Kind == relayproto.KindSignature:
		return out, &power.Error{Code: power.CodeConfig, Message: "the relay refused the signature (check OPS_RELAY_SECRET)", Err: err}
	case errors.As(err, &e):
		return out, &power.Error{Code: power.CodeBadResponse, Message: "the relay refused: " + clean(e.Message)}
	case ctx.Err() != nil:
		return out, &power.Error{Code: power.CodeUnreachable, Message: "no answer from the relay in time", Err: ctx.Err()}
	}
	return out, &power.Error{Code: power.CodeUnreachable, Message: "the relay is unreachable", Err: err}
}

// clean bounds a relay's message and keeps it to one line of valid text.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.ToValidUTF8(textcut.Cut(s, 256, "..."), "?")
}

func (d PowerDriver) Describe(ctx context.Context) (power.Description, error) {
	out, err := d.call(ctx, relayproto.PowerRequest{Op: relayproto.PowerDescribe})
	if err != nil {
		return power.Description{}, err
	}
	if out.Description == nil {
		return power.Description{}, power.Errorf(power.CodeBadResponse, "the relay's answer has no description")
	}
	return *out.Description, nil
}

func (d PowerDriver) Outlets(ctx context.Context) ([]power.OutletState, error) {
	out, err := d.call(ctx, relayproto.PowerRequest{Op: relayproto.PowerOutlets})
	if err != nil {
		return nil, err
	}
	if out.Outlets == nil {
		return nil, power.Errorf(power.CodeBadResponse, "the relay's answer has no outlets")
	}
	for i := range out.Outlets {
		out.Outlets[i] = sane(out.Outlets[i])
	}
	return out.Outlets, nil
}

// sane keeps a relayed outlet state to the values a driver answers.
func sane(o power.OutletState) power.OutletState {
	o.Outlet, o.Name = clean(o.Outlet), clean(o.Name)
	if o.State != power.StateOn && o.State != power.StateOff {
		o.State = power.StateUnknown
	}
	return o
}

func (d PowerDriver) Set(ctx context.Context, outlet, state string) (power.OutletState, error) {
	return d.outlet(d.call(ctx, relayproto.PowerRequest{Op: relayproto.PowerSet, Outlet: outlet, State: state}))
}

func (d PowerDriver) Cycle(ctx context.Context, outlet string, off time.Duration) (power.OutletState, error) {
	return d.outlet(d.call(ctx, relayproto.PowerRequest{Op: relayproto.PowerCycle, Outlet: outlet, OffMs: off.Milliseconds()}))
}

func (d PowerDriver) outlet(out relayproto.PowerResponse, err error) (power.OutletState, error) {
	if err != nil {
		return power.OutletState{}, err
	}
	if out.Outlet == nil {
		return power.OutletState{}, power.Errorf(power.CodeBadResponse, "the relay's answer has no outlet state")
	}
	return sane(*out.Outlet), nil
}

// PowerDriver is the driver of ctl through OPS_RELAY_URL's relay, ok false
// when there is no relay (the worker reaches its controllers itself) or
// ctl is a mock (there is no device to reach).
func (r *Router) PowerDriver(ctl power.Controller) (power.Driver, bool) {
	if r.defaultURL == "" || ctl.Driver == power.DriverMock {
		return nil, false
	}
	return PowerDriver{Client: r.client(r.defaultURL), Controller: ctl.ID}, true
}
