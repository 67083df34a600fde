package kdctest_test

import (
	"testing"

	"github.com/ops-worker/ops-worker/internal/kdctest"
)

func TestKerberosKDCSmoke(t *testing.T) {
	k := kdctest.Start(t)
	k.AddUser(t, "alice", "pw1")
	kt := k.AddService(t, "HTTP/127.0.0.1")
	t.Log(k.Addr, kt)
}
