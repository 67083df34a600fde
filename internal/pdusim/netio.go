package pdusim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// NetioConfig configures a NetioServer.
type NetioConfig struct {
	Device *Device
	// Addr is the TCP address, "127.0.0.1:0" when empty; loopback only.
	Addr string
	// TLS serves HTTPS with a certificate of the server's own CA
	// (CACertPEM).
	TLS bool
	// User and Password, when User is set, are required (Basic auth) for
	// every request: missing or wrong credentials get 401.
	User, Password string
	// ReadOnlyUser and ReadOnlyPassword may GET but not POST (403), as
	// NETIO's separate read and write accounts.
	ReadOnlyUser, ReadOnlyPassword string
	// Model is Agent.Model ("NETIO 4All" when empty).
	Model  string
	Logger *slog.Logger
}

// NetioServer serves a Device as a NETIO strip's JSON API (/netio.json).
type NetioServer struct {
	cfg    NetioConfig
	dev    *Device
	log    *slog.Logger
	srv    *http.Server
	ln     net.Listener
	url    string
	caPEM  []byte
	start  time.Time
	done   chan struct{}
	closer sync.Once
}

// NETIO output actions (the JSON API's "Action").
const (
	NetioOff      = 0
	NetioOn       = 1
	NetioShortOff = 2
	NetioShortOn  = 3
	NetioToggle   = 4
	NetioNoChange = 5
	NetioIgnore   = 6
)

// maxNetioBody bounds a POST body.
const maxNetioBody = 64 << 10

// StartNetio listens and serves.
func StartNetio(ctx context.Context, cfg NetioConfig) (*NetioServer, error) {
	if cfg.Device == nil {
		return nil, errors.New("pdusim netio: no device")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Model == "" {
		cfg.Model = "NETIO 4All"
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("pdusim netio address: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("pdusim netio address %s: loopback only", cfg.Addr)
	}
	s := &NetioServer{cfg: cfg, dev: cfg.Device, log: cfg.Logger, start: time.Now(), done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("pdusim netio listen: %w", err)
	}
	scheme := "http"
	if cfg.TLS {
		tc, caPEM, err := selfCA(time.Now())
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		s.caPEM = caPEM
		ln = tls.NewListener(ln, tc)
		scheme = "https"
	}
	s.ln = ln
	s.url = scheme + "://" + ln.Addr().String() + "/netio.json"
	mux := http.NewServeMux()
	mux.HandleFunc("/netio.json", s.serveJSON)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("pdusim netio serve", "err", err)
		}
	}()
	return s, nil
}

// URL is the full /netio.json URL.
func (s *NetioServer) URL() string { return s.url }

// Addr is "127.0.0.1:port".
func (s *NetioServer) Addr() string { return s.ln.Addr().String() }

// CACertPEM is the PEM of the CA that signed the HTTPS certificate (nil
// over HTTP).
func (s *NetioServer) CACertPEM() []byte { return append([]byte(nil), s.caPEM...) }

// Close stops the server; requests held by FaultTimeout end.
func (s *NetioServer) Close() error {
	s.closer.Do(func() { close(s.done) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return s.srv.Close()
	}
	return nil
}

type netioOutput struct {
	ID          int     `json:"ID"`
	Name        string  `json:"Name"`
	State       int     `json:"State"`
	Action      int     `json:"Action"`
	Delay       int     `json:"Delay"`
	Current     int     `json:"Current"`
	PowerFactor float64 `json:"PowerFactor"`
	Load        int     `json:"Load"`
	Energy      int     `json:"Energy"`
}

type netioStatus struct {
	Agent struct {
		Model        string `json:"Model"`
		Version      string `json:"Version"`
		JSONVer      string `json:"JSONVer"`
		DeviceName   string `json:"DeviceName"`
		VendorID     int    `json:"VendorID"`
		OemID        int    `json:"OemID"`
		SerialNumber string `json:"SerialNumber"`
		Uptime       int64  `json:"Uptime"`
		Time         string `json:"Time"`
		NumOutputs   int    `json:"NumOutputs"`
	} `json:"Agent"`
	GlobalMeasure struct {
		Voltage            float64 `json:"Voltage"`
		Frequency          float64 `json:"Frequency"`
		TotalCurrent       int     `json:"TotalCurrent"`
		OverallPowerFactor float64 `json:"OverallPowerFactor"`
		TotalLoad          int     `json:"TotalLoad"`
		TotalEnergy        int     `json:"TotalEnergy"`
		EnergyStart        string  `json:"EnergyStart"`
	} `json:"GlobalMeasure"`
	Outputs []netioOutput `json:"Outputs"`
}

func (s *NetioServer) status() netioStatus {
	var st netioStatus
	st.Agent.Model = s.cfg.Model
	st.Agent.Version = "3.4.0"
	st.Agent.JSONVer = "2.1"
	st.Agent.DeviceName = "pdusim-netio"
	st.Agent.SerialNumber = "24A42C39A0B1"
	st.Agent.Uptime = int64(time.Since(s.start) / time.Second)
	st.Agent.Time = time.Now().UTC().Format("2006-01-02T15:04:05-07:00")
	st.GlobalMeasure.Voltage = 230.4
	st.GlobalMeasure.Frequency = 50.0
	st.GlobalMeasure.OverallPowerFactor = 1
	st.GlobalMeasure.EnergyStart = s.start.UTC().Format("2006-01-02T15:04:05-07:00")
	outs := s.dev.Outlets()
	st.Agent.NumOutputs = len(outs)
	for _, o := range outs {
		state := 0
		if o.Reported {
			state = 1
		}
		st.Outputs = append(st.Outputs, netioOutput{ID: o.Index, Name: o.Name, State: state, Action: NetioIgnore,
			Delay: int(s.dev.rebootOff / time.Millisecond), PowerFactor: 1})
	}
	return st
}

// auth returns the Basic-auth user and whether it may write; ok false
// when credentials are required and missing or wrong.
func (s *NetioServer) auth(r *http.Request) (user string, write, ok bool) {
	if s.cfg.User == "" && s.cfg.ReadOnlyUser == "" {
		return "", true, true
	}
	u, p, has := r.BasicAuth()
	if !has {
		return "", false, false
	}
	match := func(wu, wp string) bool {
		return wu != "" && subtle.ConstantTimeCompare([]byte(u), []byte(wu))&subtle.ConstantTimeCompare([]byte(p), []byte(wp)) == 1
	}
	switch {
	case match(s.cfg.User, s.cfg.Password):
		return u, true, true
	case match(s.cfg.ReadOnlyUser, s.cfg.ReadOnlyPassword):
		return u, false, true
	}
	return "", false, false
}

func (s *NetioServer) serveJSON(w http.ResponseWriter, r *http.Request) {
	switch s.dev.Fault() {
	case FaultTimeout:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return
	case FaultRefuse:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	user, write, ok := s.auth(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="NETIO"`)
		http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.writeStatus(w)
	case http.MethodPost:
		if !write {
			http.Error(w, "403 Forbidden", http.StatusForbidden)
			return
		}
		if msg := s.post(r, user); msg != "" {
			http.Error(w, msg, http.StatusBadRequest)
			return
		}
		s.writeStatus(w)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
	}
}

func (s *NetioServer) writeStatus(w http.ResponseWriter) {
	b, err := json.Marshal(s.status())
	if err != nil {
		http.Error(w, "500", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// post validates the whole command before acting on any output; it
// returns a message for a 400.
func (s *NetioServer) post(r *http.Request, user string) string {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxNetioBody+1))
	if err != nil || len(body) > maxNetioBody {
		return "body unreadable or too large"
	}
	var cmd struct {
		Outputs []struct {
			ID     *int `json:"ID"`
			Action *int `json:"Action"`
		} `json:"Outputs"`
	}
	if err := json.Unmarshal(body, &cmd); err != nil || cmd.Outputs == nil {
		return "JSON with an Outputs array expected"
	}
	type op struct {
		id  int
		act Action
	}
	var ops []op
	for _, o := range cmd.Outputs {
		if o.ID == nil || o.Action == nil {
			return "each output needs ID and Action"
		}
		if *o.ID < 1 || *o.ID > s.dev.Count() {
			return fmt.Sprintf("no output %d", *o.ID)
		}
		var a Action
		switch *o.Action {
		case NetioOff:
			a = ActionOff
		case NetioOn:
			a = ActionOn
		case NetioShortOff:
			a = ActionReboot
		case NetioShortOn:
			a = ActionShortOn
		case NetioToggle:
			a = ActionToggle
		case NetioNoChange, NetioIgnore:
			continue
		default:
			return fmt.Sprintf("action %d unknown", *o.Action)
		}
		ops = append(ops, op{*o.ID, a})
	}
	for _, o := range ops {
		if err := s.dev.Command(o.id, o.act, "netio", user); err != nil {
			s.log.Warn("pdusim netio command", "err", err)
		}
	}
	return ""
}

// selfCA makes a CA and a server certificate for 127.0.0.1 and localhost
// it signed (as labsim's CA does; labsim's is unexported).
func selfCA(now time.Time) (*tls.Config, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pdusim CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pdusim test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pdusim CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, fmt.Errorf("pdusim CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pdusim server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pdusim server certificate: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der, caDER}, PrivateKey: key}}}
	return tc, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}
