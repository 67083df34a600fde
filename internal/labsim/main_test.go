package labsim_test

import (
	"os"
	"testing"
	"time"

	"github.com/ops-worker/ops-worker/internal/leakcheck"
)

// TestMain fails the run when a goroutine of ours or of the network
// libraries outlives the suite.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, 5*time.Second)) }
