// Package fernettest runs Python's cryptography module (the library the
// older worker sealed its files with) from tests, so Go's Fernet is proven
// against an independent implementation rather than against itself.
//
// The interpreter is the first of /usr/bin/python3 (Debian's, package
// python3-cryptography) and the python3 on PATH that imports
// cryptography.fernet. Without one the test is skipped with the reason,
// unless OPS_TEST_FERNET=required, when it fails instead (CI sets it).
package fernettest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Python returns the path of a python3 that imports cryptography.fernet, or
// skips (fails under OPS_TEST_FERNET=required) tb naming what is missing.
func Python(tb testing.TB) string {
	tb.Helper()
	var tried []string
	// Debian's interpreter first: CI installs python3-cryptography into it.
	for _, c := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(c)
		if err != nil {
			tried = append(tried, c+": not found")
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, path, "-c", "import cryptography.fernet").CombinedOutput()
		cancel()
		if err == nil {
			return path
		}
		tried = append(tried, path+": "+strings.TrimSpace(lastLine(out)))
	}
	msg := "no python3 with the cryptography module (Debian: apt-get install python3-cryptography): " + strings.Join(tried, "; ")
	if os.Getenv("OPS_TEST_FERNET") == "required" {
		tb.Fatal(msg + " (OPS_TEST_FERNET=required)")
	}
	tb.Skip(msg)
	return ""
}

// Run runs script (Python source) with args under the interpreter Python
// finds, and returns its standard output; a failure of the script fails tb
// with its standard error.
func Run(tb testing.TB, script string, args ...string) []byte {
	tb.Helper()
	python := Python(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, append([]string{"-c", script}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s: %v\n%s", python, err, stderr.String())
	}
	return stdout.Bytes()
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
