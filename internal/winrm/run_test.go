package winrm_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/labsim"
	"github.com/ops-worker/ops-worker/internal/labstation"
	"github.com/ops-worker/ops-worker/internal/winrm"
)

// labStationCommands are the commands of LABSTATION.md with their options.
var labStationCommands = []struct {
	command string
	args    []string
	sleeps  bool // the station goes to sleep afterwards
}{
	{"prepare-session", []string{"--user=student", "--guard-grace=90"}, false},
	{"prepare-session", []string{"--user=student", "--no-guard", "--guard-message=Your lab session starts in 90 s"}, false},
	{"release-session", []string{"--user=student", "--guard-grace=30"}, false},
	{"session", []string{"guard", "--grace=60", "--user=student", "--message=Please save your work", "--silent"}, false},
	{"recovery", []string{"reboot-if-needed", "--timeout=20", "--reason=Health check"}, false},
	{"status-json", nil, false},
	{"status-json", []string{`C:\LabStation\labstation\data\status.json`}, false},
	{"status", nil, false},
	{"energy", []string{"audit"}, false},
	{"account", []string{"status"}, false},
	{"service", []string{"status"}, false},
	{"wol", nil, false},
	{"power", []string{"hibernate", "--delay=0", "--reason=Reservation completed", "--repair-wake=yes"}, true},
	{"power", []string{"shutdown", "--delay=0", "--reason=Reservation completed", "--no-force", "--skip-wake-check"}, true},
}

func TestRun_LabStationAllCommands(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	c := newClient(winrm.Config{})
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			for _, cmd := range labStationCommands {
				name := cmd.command + " " + strings.Join(cmd.args, " ")
				t.Run(name, func(t *testing.T) {
					before := len(h.Commands())
					res, err := runLabStation(context.Background(), c, target(sim, h, m), cmd.command, cmd.args)
					if err != nil {
						t.Fatalf("Run: %v", err)
					}
					recs := h.Commands()
					if got, want := len(recs), before+1; got != want {
						t.Fatalf("station recorded %d commands, want %d", got, want)
					}
					rec := recs[len(recs)-1]
					if want := append([]string{exe, cmd.command}, cmd.args...); !slices.Equal(rec.Args, want) {
						t.Errorf("station argv = %q, want %q", rec.Args, want)
					}
					if res.ExitCode != rec.ExitCode {
						t.Errorf("exit code = %d, station says %d", res.ExitCode, rec.ExitCode)
					}
					if res.ExitCode > 1 {
						t.Errorf("exit code = %d, stderr %q", res.ExitCode, res.Stderr)
					}
					if cmd.sleeps {
						waitFor(t, 5*time.Second, h.Asleep)
						h.Wake()
					}
				})
			}
		})
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRun_Errors(t *testing.T) {
	sim := startSim(t, labsim.HostOptions{Name: "lab-ws-01"}, labsim.HostOptions{Name: "lab-ws-02"})
	h := sim.Host("lab-ws-01")
	c := newClient(winrm.Config{})
	ctx := context.Background()

	closedPort := func() int {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		return p
	}()

	type tc struct {
		name   string
		target func() winrm.Target
		setup  func()
		want   error
	}
	var tests []tc
	for _, m := range modes {
		tests = append(tests, tc{name: "wrong password/" + m.name, want: winrm.ErrUnauthorized, target: func() winrm.Target {
			tg := target(sim, h, m)
			tg.Password = "wrong-Pa55word!"
			return tg
		}})
	}
	tests = append(tests,
		tc{name: "untrusted certificate (no CA)", want: winrm.ErrCertificate, target: func() winrm.Target {
			tg := target(sim, h, modes[0])
			tg.CACertPEM = nil
			return tg
		}},
		tc{name: "certificate for another name", want: winrm.ErrCertificate, target: func() winrm.Target {
			tg := target(sim, h, modes[0])
			tg.TLSServerName = "lab-ws-99.example"
			return tg
		}},
		tc{name: "closed port", want: winrm.ErrUnreachable, target: func() winrm.Target {
			tg := target(sim, h, modes[0])
			tg.Port = closedPort
			return tg
		}},
		tc{name: "sleeping host", want: winrm.ErrUnreachable,
			setup: func() { sim.Host("lab-ws-02").Sleep() },
			target: func() winrm.Target {
				return target(sim, sim.Host("lab-ws-02"), modes[0])
			}},
		tc{name: "basic over http refused", want: winrm.ErrConfig, target: func() winrm.Target {
			tg := target(sim, h, modes[2])
			tg.Transport = winrm.TransportBasic
			return tg
		}},
		tc{name: "unknown transport", want: winrm.ErrConfig, target: func() winrm.Target {
			tg := target(sim, h, modes[0])
			tg.Transport = "credssp"
			return tg
		}},
		tc{name: "kerberos without realm", want: winrm.ErrConfig, target: func() winrm.Target {
			tg := target(sim, h, modes[0])
			tg.Transport = winrm.TransportKerberos
			return tg
		}},
	)
	kinds := []error{winrm.ErrUnauthorized, winrm.ErrCertificate, winrm.ErrUnreachable, winrm.ErrConfig,
		winrm.ErrTimeout, winrm.ErrCanceled, winrm.ErrProtocol, winrm.ErrEncryption, winrm.ErrAuthMethod}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			tg := tt.target()
			_, err := runLabStation(ctx, c, tg, "status", nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var we *winrm.Error
			if !errors.As(err, &we) || we.Host != tg.String() {
				t.Errorf("err %T does not name the host %s: %v", err, tg.String(), err)
			}
			for _, k := range kinds {
				if k != tt.want && errors.Is(err, k) {
					t.Errorf("err %v is also %v", err, k)
				}
			}
			mustNotLeak(t, err, tg.Password, h.Password())
			t.Logf("%v", err)
		})
	}
}

// hostileArgs reach the program byte-exact as one argument each, or are
// refused before anything is sent.
var hostileArgs = []string{
	"simple",
	"with space",
	"two  spaces",
	" leading and trailing ",
	"\ttab",
	`"quoted"`,
	`"`,
	`a"b`,
	`""`,
	`\`,
	`a\`,
	`a\\`,
	`a\"b`,
	`a\\"b`,
	`a\\\"b`,
	`trailing backslash\`,
	`C:\Program Files\Lab Station\`,
	`\\server\share\file.txt`,
	"&",
	"a&b",
	"& calc.exe",
	"|",
	"a|b",
	"<in",
	">out",
	"2>&1",
	"^",
	"a^b",
	"^^",
	"%",
	"%PATH%",
	"%USERNAME%",
	"100%",
	"%COMSPEC% /c whoami",
	"!x!",
	"(a)",
	")",
	"a;b,c=d",
	"'single'",
	"`$(whoami)`",
	"",
	" ",
	"ünïcödé",
	"日本語テキスト",
	"emoji 😀",
	"--reason=Reservation completed",
	`--message="Hi & bye" | more`,
	"a\nb",
	"cr\rlf",
	"nul\x00byte",
	"\u202eevil",
	"fullwidth ＂quote＂",
	strings.Repeat("x", 2000),
	strings.Repeat("a b ", 500),
	strings.Repeat("y", 40000),
}

func TestRun_LabStationHostileArgs(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	c := newClient(winrm.Config{})
	tg := target(sim, h, modes[0])
	var sent, refused int
	for i, arg := range hostileArgs {
		name := strconv.Itoa(i) + ":" + arg
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			reqBefore := h.HTTPRequests()
			recBefore := len(h.Commands())
			res, err := runLabStation(context.Background(), c, tg, "status", []string{"--probe", arg, "--end"})
			if err != nil {
				if !errors.Is(err, labstation.ErrArgument) {
					t.Fatalf("err = %v, want nil or ErrArgument", err)
				}
				if got := h.HTTPRequests(); got != reqBefore {
					t.Errorf("refused argument still sent %d requests", got-reqBefore)
				}
				refused++
				t.Logf("refused: %v", err)
				return
			}
			recs := h.Commands()
			if len(recs) != recBefore+1 {
				t.Fatalf("station recorded %d new commands, want 1", len(recs)-recBefore)
			}
			want := []string{exe, "status", "--probe", arg, "--end"}
			if got := recs[len(recs)-1].Args; !slices.Equal(got, want) {
				t.Errorf("argv = %q\nwant   %q\n(command line %q)", got, want, recs[len(recs)-1].CommandLine)
			}
			_ = res
			sent++
		})
	}
	t.Logf("%d arguments sent verbatim, %d refused", sent, refused)
	if sent < 30 {
		t.Errorf("only %d hostile arguments went through; the quoting refuses too much", sent)
	}
}
