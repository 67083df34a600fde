package apcsnmp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/power"
)

func newDriver(t *testing.T, d *snmpd, profile string, creds Credentials, logBuf *bytes.Buffer) *Driver {
	t.Helper()
	cfg := Config{Host: "127.0.0.1", Port: d.port, Profile: profile, Timeout: 500 * time.Millisecond, Retries: 1, ReadBackWait: 2 * time.Second}
	if logBuf != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	drv, err := New(cfg, creds)
	if err != nil {
		t.Fatal(err)
	}
	return drv
}

func TestSnmpdDriver(t *testing.T) {
	for _, tc := range []struct {
		name, profile string
		creds         Credentials
		model         string
		firstName     string
	}{
		{"v2c-rpdu2", ProfileRPDU2, v2c(testCommunity), "AP8959EU3", "Bench 1"},
		{"v3authpriv-legacy", ProfileLegacy, v3(testAuthPass, testPrivPass), "AP7920B", "Outlet 1"},
		{"v1-legacy", ProfileLegacy, Credentials{Type: "snmpv1", Fields: map[string]string{"community": testCommunity}}, "AP7920B", "Outlet 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd := startSnmpd(t, tc.profile, 8, "")
			var logs bytes.Buffer
			drv := newDriver(t, sd, ProfileAuto, tc.creds, &logs)
			ctx := context.Background()

			desc, err := drv.Describe(ctx)
			if err != nil {
				t.Fatalf("Describe: %v\nsnmpd:\n%s", err, sd.out.String())
			}
			want := power.Description{Driver: DriverName, Model: tc.model, Firmware: desc.Firmware, Profile: tc.profile, Outlets: 8}
			if desc != want || desc.Firmware == "" {
				t.Fatalf("Describe = %+v, want %+v (auto-detected profile)", desc, want)
			}
			outs, err := drv.Outlets(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(outs) != 8 || outs[0] != (power.OutletState{Outlet: "1", Name: tc.firstName, State: power.StateOn}) || outs[1].State != power.StateOff || outs[7].Outlet != "8" {
				t.Fatalf("Outlets = %+v", outs)
			}

			st, err := drv.Set(ctx, "2", power.StateOn)
			if err != nil || st.State != power.StateOn || st.Outlet != "2" {
				t.Fatalf("Set 2 on = %+v, %v", st, err)
			}
			st, err = drv.Set(ctx, "1", power.StateOff)
			if err != nil || st.State != power.StateOff {
				t.Fatalf("Set 1 off = %+v, %v", st, err)
			}
			outs, err = drv.Outlets(ctx)
			if err != nil || outs[0].State != power.StateOff || outs[1].State != power.StateOn {
				t.Fatalf("after sets: %+v, %v", outs, err)
			}

			start := time.Now()
			st, err = drv.Cycle(ctx, "3", time.Second)
			if err != nil || st.State != power.StateOn {
				t.Fatalf("Cycle 3 = %+v, %v", st, err)
			}
			// The simulator's reboot keeps the outlet off 300ms: the
			// read-back waited for it to come on again.
			if time.Since(start) < 250*time.Millisecond {
				t.Fatalf("Cycle returned after %s, before the outlet came back on", time.Since(start))
			}

			_, err = drv.Set(ctx, "9", power.StateOn)
			if power.CodeOf(err) != power.CodeOutletUnknown {
				t.Fatalf("Set unknown outlet: %v, want %s", err, power.CodeOutletUnknown)
			}
			_, err = drv.Set(ctx, "x", power.StateOn)
			if power.CodeOf(err) != power.CodeOutletUnknown {
				t.Fatalf("Set outlet x: %v", err)
			}
			noSecret(t, "logs", logs.String())
			noSecret(t, "driver %v", fmt.Sprintf("%v %+v %#v", drv, drv, drv))
			noSecret(t, "credentials %v", fmt.Sprintf("%v %+v %#v %s", tc.creds, tc.creds, tc.creds, tc.creds))
		})
	}
}

func TestSnmpdBadCredentials(t *testing.T) {
	sd := startSnmpd(t, ProfileRPDU2, 4, "")
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		creds Credentials
		code  string
		msg   string
	}{
		{"wrong community", v2c("wrong-Community-9"), power.CodeUnreachable, "no answer (wrong community or unreachable)"},
		{"wrong auth key", v3("wrong-Auth-Pass-9", testPrivPass), power.CodeAuth, "authentication"},
		{"wrong priv key", v3(testAuthPass, "wrong-Priv-Pass-9"), "", "privacy key"},
		{"unknown user", Credentials{Type: "snmpv3", Fields: map[string]string{"username": "nobody", "authProtocol": "SHA", "authPassword": testAuthPass, "privProtocol": "AES", "privPassword": testPrivPass}}, power.CodeAuth, "wrong user or authentication key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drv := newDriver(t, sd, ProfileAuto, tc.creds, nil)
			_, err := drv.Describe(ctx)
			if err == nil {
				t.Fatal("Describe succeeded with bad credentials")
			}
			code := power.CodeOf(err)
			if tc.code == "" {
				// A wrong privacy key: the agent drops what it cannot
				// decrypt (a timeout) or reports a decryption error.
				if (code != power.CodeAuth && code != power.CodeUnreachable) || !bytes.Contains([]byte(err.Error()), []byte(tc.msg)) {
					t.Fatalf("Describe: %v, want auth or unreachable", err)
				}
			} else if code != tc.code || !bytes.Contains([]byte(err.Error()), []byte(tc.msg)) {
				t.Fatalf("Describe: %v, want %s with %q", err, tc.code, tc.msg)
			}
			t.Logf("%s: %v", tc.name, err)
			noSecret(t, "error", err.Error())
		})
	}
	t.Run("read-only community", func(t *testing.T) {
		drv := newDriver(t, sd, ProfileAuto, v2c(roCommunity), nil)
		if _, err := drv.Outlets(ctx); err != nil {
			t.Fatalf("read with the read-only community: %v", err)
		}
		_, err := drv.Set(ctx, "1", power.StateOff)
		if power.CodeOf(err) != power.CodeAuth {
			t.Fatalf("Set with a read-only community: %v, want %s", err, power.CodeAuth)
		}
		noSecret(t, "error", err.Error())
	})
}

func TestSnmpdFaults(t *testing.T) {
	ctx := context.Background()
	t.Run("stuck outlet", func(t *testing.T) {
		sd := startSnmpd(t, ProfileLegacy, 4, "stuck")
		drv, err := New(Config{Host: "127.0.0.1", Port: sd.port, Timeout: 500 * time.Millisecond, ReadBackWait: 500 * time.Millisecond}, v2c(testCommunity))
		if err != nil {
			t.Fatal(err)
		}
		st, err := drv.Set(ctx, "2", power.StateOn) // outlet 2 starts off
		if power.CodeOf(err) != power.CodeReadBackMismatch || st.State != power.StateOff {
			t.Fatalf("Set on a stuck outlet = %+v, %v; want %s reading off", st, err, power.CodeReadBackMismatch)
		}
	})
	t.Run("wrong value types", func(t *testing.T) {
		sd := startSnmpd(t, ProfileRPDU2, 4, "wrongtype")
		drv := newDriver(t, sd, ProfileAuto, v2c(testCommunity), nil)
		if _, err := drv.Outlets(ctx); power.CodeOf(err) != power.CodeBadResponse {
			t.Fatalf("Outlets with string states: %v, want %s", err, power.CodeBadResponse)
		}
	})
	t.Run("profile mismatch", func(t *testing.T) {
		sd := startSnmpd(t, ProfileRPDU2, 4, "")
		drv := newDriver(t, sd, ProfileLegacy, v2c(testCommunity), nil)
		if _, err := drv.Outlets(ctx); power.CodeOf(err) != power.CodeUnsupportedProfile {
			t.Fatalf("legacy profile on an rPDU2 device: %v, want %s", err, power.CodeUnsupportedProfile)
		}
	})
	t.Run("dial through the caller's conversation", func(t *testing.T) {
		sd := startSnmpd(t, ProfileRPDU2, 2, "")
		var dials atomic.Int32
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
		drv, err := New(Config{Host: "127.0.0.1", Port: sd.port, Dial: dial}, v2c(testCommunity))
		if err != nil {
			t.Fatal(err)
		}
		if st, err := drv.Set(ctx, "1", power.StateOff); err != nil || st.State != power.StateOff || dials.Load() != 1 {
			t.Fatalf("Set through Dial = %+v, %v (dials %d)", st, err, dials.Load())
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		drv, err := New(Config{Host: "127.0.0.1", Port: freeUDPPort(t), Timeout: 200 * time.Millisecond, Retries: -1}, v2c(testCommunity))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := drv.Describe(ctx); power.CodeOf(err) != power.CodeUnreachable {
			t.Fatalf("Describe with nothing listening: %v, want %s", err, power.CodeUnreachable)
		}
	})
}

// BenchmarkSnmpdSet: one Set with its read-back against snmpd (v2c,
// rPDU2, profile and row map cached after the first).
func BenchmarkSnmpdSet(b *testing.B) {
	sd := startSnmpd(b, ProfileRPDU2, 8, "")
	drv, err := New(Config{Host: "127.0.0.1", Port: sd.port}, v2c(testCommunity))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	states := []string{power.StateOn, power.StateOff}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := drv.Set(ctx, "2", states[i%2]); err != nil {
			b.Fatal(err)
		}
	}
}
