package api

import (
	"net/url"
	"strconv"

	"github.com/ops-worker/ops-worker/internal/ops"
	"github.com/ops-worker/ops-worker/internal/scheduler"
)

// The wire bodies of the POST routes: what the web client sends, with
// API.md's names and aliases, decoded strictly by decodeJSON and then
// converted to the plain ops requests. A pointer is "not given"; a JSON
// null is the same as leaving the field out.
//
// Unknown fields are tolerated (and their names logged): API.md lets the
// project add fields ("add more where users would expect them"), so a web
// client one version ahead, or behind, must keep working. A field whose
// name differs from a known one only in case is refused instead, since
// encoding/json would quietly take it for the known one.

type wolWire struct {
	Host        string `json:"host"`
	MAC         string `json:"mac"`
	Broadcast   string `json:"broadcast"`
	Port        *int   `json:"port"`
	PingTarget  string `json:"ping_target"`
	PingTimeout *int   `json:"ping_timeout"`
	Attempts    *int   `json:"attempts"`
}

func (w *wolWire) request() (ops.WakeRequest, error) {
	return ops.WakeRequest{
		Host: w.Host, MAC: w.MAC, Broadcast: w.Broadcast, Port: w.Port,
		PingTarget: w.PingTarget, PingTimeout: w.PingTimeout, Attempts: w.Attempts,
	}, nil
}

type winrmWire struct {
	Host      string   `json:"host"`
	Command   string   `json:"command"`
	Args      []string `json:"args"`
	User      string   `json:"user"`
	Password  string   `json:"password"`
	Transport string   `json:"transport"`
	UseSSL    *bool    `json:"use_ssl"`
	Port      *int     `json:"port"`
}

func (w *winrmWire) request() (ops.CommandRequest, error) {
	return ops.CommandRequest{
		Host: w.Host, Command: w.Command, Args: w.Args, User: w.User, Password: w.Password,
		Transport: w.Transport, UseSSL: w.UseSSL, Port: w.Port,
	}, nil
}

type pollWire struct {
	Host          string `json:"host"`
	IncludeEvents *bool  `json:"include_events"`
}

func (w *pollWire) request() (ops.PollRequest, error) {
	return ops.PollRequest{Host: w.Host, IncludeEvents: w.IncludeEvents}, nil
}

// reservationIDs are the identifying fields of both reservation flows,
// each under its two names.
type reservationIDs struct {
	ReservationID      *string `json:"reservationId"`
	ReservationIDSnake *string `json:"reservation_id"`
	Host               *string `json:"host"`
	HostName           *string `json:"hostName"`
	LabID              *string `json:"labId"`
	LabIDSnake         *string `json:"lab_id"`
}

func (w *reservationIDs) resolve() (reservationID, host, labID string, err error) {
	if reservationID, err = alias("reservationId", w.ReservationID, "reservation_id", w.ReservationIDSnake); err != nil {
		return
	}
	if host, err = alias("host", w.Host, "hostName", w.HostName); err != nil {
		return
	}
	labID, err = alias("labId", w.LabID, "lab_id", w.LabIDSnake)
	return
}

// alias merges a field given under two names: either will do, both must
// agree.
func alias(name string, v *string, otherName string, other *string) (string, error) {
	switch {
	case v != nil && other != nil && *v != *other:
		return "", ops.Errorf(ops.CodeInvalidField, "fields '%s' and '%s' disagree; give one of them", name, otherName)
	case v != nil:
		return *v, nil
	case other != nil:
		return *other, nil
	}
	return "", nil
}

type wakeOptionsWire struct {
	MAC         string `json:"mac"`
	PingTarget  string `json:"ping_target"`
	Attempts    *int   `json:"attempts"`
	PingTimeout *int   `json:"ping_timeout"`
	Broadcast   string `json:"broadcast"`
	Port        *int   `json:"port"`
}

type startWire struct {
	reservationIDs
	Wake        *bool            `json:"wake"`
	WakeOptions *wakeOptionsWire `json:"wakeOptions"`
	Prepare     *bool            `json:"prepare"`
	PrepareArgs []string         `json:"prepareArgs"`
	GuardGrace  *int             `json:"guardGrace"`
}

func (w *startWire) request() (ops.StartRequest, error) {
	req := ops.StartRequest{Wake: w.Wake, Prepare: w.Prepare, PrepareArgs: w.PrepareArgs, GuardGrace: w.GuardGrace}
	var err error
	if req.ReservationID, req.Host, req.LabID, err = w.resolve(); err != nil {
		return ops.StartRequest{}, err
	}
	if o := w.WakeOptions; o != nil {
		req.WakeOptions = ops.WakeOptions{
			MAC: o.MAC, PingTarget: o.PingTarget, Attempts: o.Attempts,
			PingTimeout: o.PingTimeout, Broadcast: o.Broadcast, Port: o.Port,
		}
	}
	return req, nil
}

type powerActionWire struct {
	Mode string   `json:"mode"`
	Args []string `json:"args"`
}

type endWire struct {
	reservationIDs
	Release     *bool            `json:"release"`
	ReleaseArgs []string         `json:"releaseArgs"`
	PowerAction *powerActionWire `json:"powerAction"`
}

func (w *endWire) request() (ops.EndRequest, error) {
	req := ops.EndRequest{Release: w.Release, ReleaseArgs: w.ReleaseArgs}
	var err error
	if req.ReservationID, req.Host, req.LabID, err = w.resolve(); err != nil {
		return ops.EndRequest{}, err
	}
	if p := w.PowerAction; p != nil {
		req.PowerAction = &ops.PowerAction{Mode: p.Mode, Args: p.Args}
	}
	return req, nil
}

type quarantineWire struct {
	Host        *string `json:"host"`
	Name        *string `json:"name"`
	Quarantined *bool   `json:"quarantined"`
}

func (w *quarantineWire) request() (ops.QuarantineRequest, error) {
	host, err := alias("host", w.Host, "name", w.Name)
	if err != nil {
		return ops.QuarantineRequest{}, err
	}
	return ops.QuarantineRequest{Host: host, Quarantined: w.Quarantined}, nil
}

// localModeWire is POST /api/hosts/local-mode: enabled is a JSON boolean
// (a string or number is refused by the strict decoding), required.
type localModeWire struct {
	Host    string `json:"host"`
	Enabled *bool  `json:"enabled"`
}

func (w *localModeWire) request() (ops.LocalModeRequest, error) {
	return ops.LocalModeRequest{Host: w.Host, Enabled: w.Enabled}, nil
}

// reloadWire is the (empty) body of POST /api/hosts/reload: still decoded,
// so that a body that is not a JSON object is refused like everywhere.
type reloadWire struct{}

func (w *reloadWire) request() (struct{}, error) { return struct{}{}, nil }

// tickWire is the (optional, empty) body of POST /api/ticks/*: an external
// cron sends nothing; a body must still be one JSON object.
type tickWire struct{}

func (w *tickWire) request() (scheduler.Event, error) {
	return scheduler.Event{Source: "http"}, nil
}

// wire is a decoded body that converts to its ops request.
type wire[R any] interface {
	request() (R, error)
}

// parseBody decodes raw as the wire body W and converts it. It returns the
// names of fields it did not know (tolerated, for the log).
func parseBody[W any, PW interface {
	*W
	wire[R]
}, R any](raw []byte) (R, []string, error) {
	var w W
	unknown, err := decodeJSONFields(raw, &w)
	if err != nil {
		var zero R
		return zero, nil, err
	}
	req, err := PW(&w).request()
	return req, unknown, err
}

// Query parsing of the GET routes.

// query parses the raw query string. An invalid escape, a semicolon (which
// proxies split differently) or a known parameter given twice is a 400:
// two readers of the same URL must not see different requests.
func query(raw string, known ...string) (url.Values, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, ops.Errorf(ops.CodeBadRequest, "query string is not valid")
	}
	for _, k := range known {
		if len(q[k]) > 1 {
			return nil, ops.Errorf(ops.CodeBadRequest, "query parameter '%s' given more than once", k)
		}
	}
	return q, nil
}

// queryInt is a non-negative integer parameter, or nil when absent or
// unparsable (API.md: the use case then applies its default).
func queryInt(q url.Values, name string) *int {
	s := q.Get(name)
	if s == "" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return nil
	}
	return &n
}

// queryAlias is a string parameter given under either of two names.
func queryAlias(q url.Values, name, other string) (string, error) {
	var a, b *string
	if v, ok := q[name]; ok {
		a = &v[0]
	}
	if v, ok := q[other]; ok {
		b = &v[0]
	}
	return alias(name, a, other, b)
}

// pageQuery is the query of the timeline and of the recent operations:
// reservationId (or reservation_id), limit, offset.
type pageQuery struct {
	ReservationID string
	// Host is the recent operations' host filter (the timeline ignores it).
	Host          string
	Limit, Offset *int
}

func parsePageQuery(raw string) (pageQuery, error) {
	q, err := query(raw, "reservationId", "reservation_id", "host", "limit", "offset")
	if err != nil {
		return pageQuery{}, err
	}
	// A missing reservationId on the timeline is the use case's 400
	// ("reservationId is required"), so that API.md's order (no database
	// first) holds.
	id, err := queryAlias(q, "reservationId", "reservation_id")
	if err != nil {
		return pageQuery{}, err
	}
	return pageQuery{ReservationID: id, Host: q.Get("host"), Limit: queryInt(q, "limit"), Offset: queryInt(q, "offset")}, nil
}
