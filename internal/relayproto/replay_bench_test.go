package relayproto_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/relayproto"
)

// BenchmarkReplayCache_AddFull adds nonces to a cache holding its maximum
// of live nonces whose expiries are spread over the next two windows, the
// clock moving on so that about one of them expires per Add: the steady
// state of a flood at capacity.
func BenchmarkReplayCache_AddFull(b *testing.B) {
	const size = relayproto.DefaultReplaySize
	span := 2 * relayproto.Window
	step := span / size
	now := time.Unix(1_800_000_000, 0)
	c := &relayproto.ReplayCache{Size: size}
	for i := range size {
		if err := c.Add("prefill-"+strconv.Itoa(i), now.Add(time.Second+time.Duration(i)*step), now); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		now = now.Add(step)
		_ = c.Add("nonce-"+strconv.Itoa(i), now.Add(relayproto.Window), now)
		i++
	}
}
