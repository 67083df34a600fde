package winrm_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// A hung command is polled through its OperationTimeouts and abandoned at
// the command deadline, not at the first OperationTimeout; its shell is
// deleted.
func TestRun_HungCommandAbandoned(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	h.SetFaults(labsim.Faults{Hang: true})
	c := winrm.New(winrm.Config{OperationTimeout: 300 * time.Millisecond, CommandTimeout: 1500 * time.Millisecond})
	defer c.Close()
	for _, m := range modes {
		timedOut := h.TimedOutReceives()
		start := time.Now()
		_, err := runLabStation(context.Background(), c, target(sim, h, m), "status", nil)
		d := time.Since(start)
		if !errors.Is(err, winrm.ErrTimeout) {
			t.Fatalf("%s: err = %v, want ErrTimeout", m.name, err)
		}
		if d < 1400*time.Millisecond || d > 5*time.Second {
			t.Errorf("%s: abandoned after %v, want about the 1.5 s command deadline", m.name, d)
		}
		if n := h.TimedOutReceives() - timedOut; n < 2 {
			t.Errorf("%s: %d Receives ended in the OperationTimeout fault, want several before the deadline", m.name, n)
		}
	}
	// The abandoned shells were deleted in the background: the station's
	// 2 command slots are free again.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	h.SetFaults(labsim.Faults{})
	for range 3 {
		if _, err := runLabStation(context.Background(), c, target(sim, h, modes[0]), "status", nil); err != nil {
			t.Fatalf("after abandoned commands: %v", err)
		}
	}
}

func TestRun_CancelStopsAtOnce(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	h.SetFaults(labsim.Faults{Hang: true})
	c := winrm.New(winrm.Config{OperationTimeout: 30 * time.Second})
	defer c.Close()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx, cancelled := cancelAfter(300 * time.Millisecond)
			_, err := runLabStation(ctx, c, target(sim, h, m), "status", nil)
			at := cancelled()
			// "At once" against a 30 s operation timeout; the margin is for
			// a loaded CI machine running the race detector, not a goal.
			if d := time.Since(at); d > 2*time.Second {
				t.Errorf("returned %v after cancel, want at once", d)
			} else {
				t.Logf("returned %v after cancel", d)
			}
			if !errors.Is(err, winrm.ErrCanceled) || !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want ErrCanceled wrapping context.Canceled", err)
			}
		})
	}
}

func TestRun_DeadlineOfCaller(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	h.SetFaults(labsim.Faults{Hang: true})
	c := winrm.New(winrm.Config{OperationTimeout: 30 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Run(ctx, target(sim, h, modes[0]), "LabStation.exe status", winrm.RunOptions{})
	if !errors.Is(err, winrm.ErrTimeout) {
		t.Errorf("err = %v, want ErrTimeout", err)
	}
}

func TestRun_ConcurrentCallsShareNothing(t *testing.T) {
	sim := startSim(t, labsim.HostOptions{Name: "a"}, labsim.HostOptions{Name: "b"}, labsim.HostOptions{Name: "c"})
	c := newClient(winrm.Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 30 {
		h := sim.Hosts()[i%3]
		m := modes[i%len(modes)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := runLabStation(context.Background(), c, target(sim, h, m), "status", nil)
			if err == nil && res.ExitCode != 0 {
				err = errors.New("exit code " + strconv.Itoa(res.ExitCode))
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A station that goes to sleep in the middle of a command ends the call
// soon, not at the command's time limit. When its ports refuse, the
// connection is reset: ErrUnreachable at once. When it blackholes (labsim's
// default, as a sleeping Windows host: no FIN, no RST, the connection just
// stops answering), a request sent after the power-down gets no answer:
// ErrTimeout after ReadTimeout. The shell is deleted in the background, where the dial may
// wait.
func TestRun_HostSleepsMidCommand(t *testing.T) {
	sim := startSim(t, labsim.HostOptions{Name: "blackhole"}, labsim.HostOptions{Name: "refuse", SleepMode: labsim.SleepRefuse})
	const readTimeout = 1500 * time.Millisecond
	c := winrm.New(winrm.Config{OperationTimeout: time.Second, ReadTimeout: readTimeout, DialTimeout: 500 * time.Millisecond})
	defer c.Close()
	for _, h := range sim.Hosts() {
		h.SetFaults(labsim.Faults{Hang: true})
	}
	for _, h := range sim.Hosts() {
		for _, m := range modes {
			t.Run(h.Name()+"/"+m.name, func(t *testing.T) {
				h.Wake()
				n := len(h.Commands())
				go func() {
					// Once the command runs (its Receive is then waiting).
					for len(h.Commands()) == n {
						time.Sleep(5 * time.Millisecond)
					}
					time.Sleep(50 * time.Millisecond)
					h.Sleep()
				}()
				start := time.Now()
				res, err := runLabStation(context.Background(), c, target(sim, h, m), "status", nil)
				ok, limit := errors.Is(err, winrm.ErrUnreachable), 2*time.Second
				if h.Name() == "blackhole" {
					// The Receive in flight is dropped (ErrUnreachable); one
					// sent after the power-down gets no answer (ErrTimeout).
					ok = ok || errors.Is(err, winrm.ErrTimeout)
					limit = readTimeout + 2*time.Second
				}
				if !ok {
					t.Errorf("err = %v (result %+v), want ErrUnreachable (or ErrTimeout when blackholed)", err, res)
				}
				if d := time.Since(start); d > limit {
					t.Errorf("took %v after the station dropped, want at most %v", d, limit)
				}
			})
		}
	}
}

// RunPowerShell sends the script encoded (powershell.exe -EncodedCommand),
// so what cmd.exe would interpret reaches PowerShell as written, in one
// command, in every mode.
func TestRunPowerShell(t *testing.T) {
	sim := startSim(t)
	h := sim.Host("lab-ws-01")
	c := newClient(winrm.Config{})
	defer c.Close()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			before := len(h.Commands())
			res, err := c.RunPowerShell(context.Background(), target(sim, h, m), "Write-Output 'a&b|c^d \"%PATH%\"'\nWrite-Output 'two'", winrm.RunOptions{})
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("RunPowerShell: %v (exit %d, stderr %q)", err, res.ExitCode, res.Stderr)
			}
			if got, want := strings.ReplaceAll(res.Stdout, "\r\n", "\n"), "a&b|c^d \"%PATH%\"\ntwo\n"; got != want {
				t.Errorf("stdout %q, want %q", got, want)
			}
			recs := h.Commands()
			if n := len(recs) - before; n != 1 {
				t.Errorf("%d commands, want 1", n)
			}
			if cl := recs[len(recs)-1].CommandLine; !strings.HasPrefix(cl, "powershell.exe -EncodedCommand ") {
				t.Errorf("command line %q is not an encoded PowerShell script", cl)
			}
		})
	}
}
