package wake

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	probing "github.com/prometheus-community/pro-bing"
	"golang.org/x/net/icmp"
)

// pingInterval is the pause between echo requests within one wait.
const pingInterval = 500 * time.Millisecond

type icmpState struct {
	mode       string // "privileged", "unprivileged", "skipped: <reason>"
	privileged bool
	ok         bool
}

func (w *Waker) icmpState() icmpState {
	w.once.Do(func() { w.icmp = decideICMP(w.ICMP) })
	return w.icmp
}

// decideICMP picks the echo mode once. It opens (and closes at once) an
// ICMP socket on loopback, which sends nothing: a raw socket needs root or
// CAP_NET_RAW, a datagram ("unprivileged") one needs the process group
// inside net.ipv4.ping_group_range. Trying is more reliable than reading
// capabilities, which containers and seccomp can contradict. want limits
// the modes tried: "", "privileged", "unprivileged" or "off".
func decideICMP(want string) icmpState {
	var reasons []string
	switch want {
	case "", "privileged", "unprivileged":
	case "off":
		return icmpState{mode: "skipped: ICMP turned off by configuration"}
	default:
		return icmpState{mode: fmt.Sprintf("skipped: unknown ICMP mode %q", want)}
	}
	if want != "unprivileged" {
		c, err := icmp.ListenPacket("ip4:icmp", "127.0.0.1")
		if err == nil {
			c.Close()
			return icmpState{mode: "privileged", privileged: true, ok: true}
		}
		reasons = append(reasons, fmt.Sprintf("no raw ICMP socket (needs root or CAP_NET_RAW: %v)", err))
	}
	if want != "privileged" {
		c, err := icmp.ListenPacket("udp4", "127.0.0.1")
		if err == nil {
			c.Close()
			return icmpState{mode: "unprivileged", ok: true}
		}
		pingRange := "unknown"
		if b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range"); err == nil {
			pingRange = strings.Join(strings.Fields(string(b)), "-")
		}
		reasons = append(reasons, fmt.Sprintf("no unprivileged ICMP socket (group %d outside net.ipv4.ping_group_range %s: %v)", os.Getgid(), pingRange, err))
	}
	return icmpState{mode: "skipped: " + strings.Join(reasons, "; ")}
}

// ping sends echo requests to target every pingInterval until one is
// answered or ctx ends (ctx must carry a deadline). It reports whether any
// reply arrived.
func (w *Waker) ping(ctx context.Context, target string) (bool, error) {
	st := w.icmpState()
	if !st.ok {
		return false, fmt.Errorf("ping %s: %s", target, st.mode)
	}
	ip, err := w.lookup(ctx, target)
	if err != nil {
		return false, fmt.Errorf("ping %s: %w", target, err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return false, fmt.Errorf("ping %s: no deadline", target)
	}
	timeout := time.Until(deadline)
	if timeout <= 0 {
		return false, ctx.Err()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	p := probing.New("")
	p.SetIPAddr(&net.IPAddr{IP: ip})
	p.SetPrivileged(st.privileged)
	p.SetLogger(probing.NoopLogger{})
	// pro-bing's default Timeout is practically infinite and ends with a nil
	// error: always bound it, and judge by PacketsRecv.
	p.Timeout = timeout
	p.Interval = pingInterval
	p.Count = -1
	p.RecordRtts = false
	p.RecordTTLs = false
	p.OnRecv = func(*probing.Packet) { cancel() }
	runErr := p.RunWithContext(ctx)
	if p.Statistics().PacketsRecv > 0 {
		return true, nil
	}
	if runErr != nil && ctx.Err() == nil {
		return false, fmt.Errorf("ping %s: %w", target, runErr)
	}
	return false, nil
}
