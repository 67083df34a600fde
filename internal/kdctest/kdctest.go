// Package kdctest gives tests a real MIT Kerberos KDC (Debian's krb5-kdc and
// krb5-admin-server) of their own: a new realm in a temporary directory,
// listening on a free 127.0.0.1 port only, with its own krb5.conf and
// kdc.conf, so neither /etc/krb5.conf nor DNS is ever consulted.
//
// When the KDC binaries are missing the test is skipped, unless
// OPS_TEST_KRB5=required (as CI sets it), which makes that a failure.
package kdctest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Realm is the realm of every test KDC.
const Realm = "LABSIM.TEST"

// KDC is a running krb5kdc. Stop (also run at the test's end) ends it.
type KDC struct {
	Realm string
	// Krb5Conf is the client krb5.conf naming only this KDC (TCP, no DNS).
	Krb5Conf string
	// Addr is the KDC's host:port on 127.0.0.1.
	Addr string
	Dir  string

	env     []string
	kadmin  string
	cmd     *exec.Cmd
	done    chan struct{}
	stopped bool
}

func findBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// Binaries returns the paths of krb5kdc, kdb5_util and kadmin.local, or
// the name of the first one missing.
func Binaries() (krb5kdc, kdb5util, kadminLocal string, missing string) {
	names := []string{"krb5kdc", "kdb5_util", "kadmin.local"}
	paths := make([]string, len(names))
	for i, n := range names {
		if paths[i] = findBinary(n); paths[i] == "" {
			return "", "", "", n
		}
	}
	return paths[0], paths[1], paths[2], ""
}

// Start creates a realm and starts its KDC; the test's Cleanup stops it
// and removes the directory.
func Start(tb testing.TB) *KDC {
	tb.Helper()
	krb5kdc, kdb5util, kadmin, missing := Binaries()
	if missing != "" {
		msg := fmt.Sprintf("kdctest: %s not found (Debian packages krb5-kdc and krb5-admin-server)", missing)
		if os.Getenv("OPS_TEST_KRB5") == "required" {
			tb.Fatalf("%s, and OPS_TEST_KRB5=required", msg)
		}
		tb.Skipf("%s; set OPS_TEST_KRB5=required to make this a failure", msg)
	}
	dir := tb.TempDir()
	port, err := freePort()
	if err != nil {
		tb.Fatalf("kdctest: free port: %v", err)
	}
	k := &KDC{Realm: Realm, Dir: dir, Krb5Conf: filepath.Join(dir, "krb5.conf"),
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), kadmin: kadmin, done: make(chan struct{})}
	k.writeConfig(tb)
	k.env = append(os.Environ(), "KRB5_CONFIG="+k.Krb5Conf, "KRB5_KDC_PROFILE="+filepath.Join(dir, "kdc.conf"),
		"KRB5CCNAME=FILE:"+filepath.Join(dir, "ccache"), "KRB5RCACHEDIR="+dir)

	if out, err := k.run(kdb5util, "create", "-s", "-r", Realm, "-P", "kdctest-master-key"); err != nil {
		tb.Fatalf("kdctest: kdb5_util create: %v\n%s", err, out)
	}
	k.startKDC(tb, krb5kdc)
	return k
}

// writeConfig writes the client and KDC profiles and an empty kadmin ACL
// into k.Dir.
func (k *KDC) writeConfig(tb testing.TB) {
	tb.Helper()
	dir := k.Dir
	krb5conf := fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	udp_preference_limit = 1
	default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
	default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
	permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
	ticket_lifetime = 1h

[realms]
	%[1]s = {
		kdc = %[2]s
	}
`, Realm, k.Addr)
	kdcconf := fmt.Sprintf(`[kdcdefaults]
	kdc_listen = %[2]s
	kdc_tcp_listen = %[2]s

[realms]
	%[1]s = {
		database_name = %[3]s/principal
		key_stash_file = %[3]s/stash
		acl_file = %[3]s/kadm5.acl
		max_life = 1h
		master_key_type = aes256-cts-hmac-sha1-96
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
		default_principal_flags = +preauth
	}

[logging]
	kdc = FILE:%[3]s/kdc.log
	default = FILE:%[3]s/kdc.log
`, Realm, k.Addr, dir)
	for name, text := range map[string]string{"krb5.conf": krb5conf, "kdc.conf": kdcconf, "kadm5.acl": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			tb.Fatalf("kdctest: %v", err)
		}
	}
}

// startKDC runs krb5kdc in the foreground and waits until it listens on
// k.Addr (10 s at most), failing tb with its log when it exits first.
func (k *KDC) startKDC(tb testing.TB, krb5kdc string) {
	tb.Helper()
	dir := k.Dir
	k.cmd = exec.Command(krb5kdc, "-n", "-r", Realm, "-P", filepath.Join(dir, "kdc.pid"))
	k.cmd.Env = k.env
	var stderr bytes.Buffer
	k.cmd.Stdout, k.cmd.Stderr = &stderr, &stderr
	if err := k.cmd.Start(); err != nil {
		tb.Fatalf("kdctest: start krb5kdc: %v", err)
	}
	go func() { _ = k.cmd.Wait(); close(k.done) }()
	tb.Cleanup(k.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", k.Addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case <-k.done:
			log, _ := os.ReadFile(filepath.Join(dir, "kdc.log"))
			tb.Fatalf("kdctest: krb5kdc exited: %s\n%s", stderr.String(), log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("kdctest: krb5kdc not listening on %s after 10s", k.Addr)
		}
	}
}

func freePort() (int, error) {
	// The KDC listens on the same number for TCP and UDP: find one free
	// for both.
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = ln.Close()
		if err == nil {
			_ = pc.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no port free for both TCP and UDP")
}

func (k *KDC) run(bin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = k.env
	return cmd.CombinedOutput()
}

func (k *KDC) kadminQuery(tb testing.TB, query string) {
	tb.Helper()
	out, err := k.run(k.kadmin, "-r", k.Realm, "-q", query)
	if err != nil || bytes.Contains(out, []byte("error")) || bytes.Contains(out, []byte("Error")) {
		// The query may hold a password: name only the command.
		cmd, _, _ := strings.Cut(query, " ")
		tb.Fatalf("kdctest: kadmin.local %s: %v\n%s", cmd, err, out)
	}
}

// AddUser creates name@Realm with password.
func (k *KDC) AddUser(tb testing.TB, name, password string) {
	tb.Helper()
	k.kadminQuery(tb, fmt.Sprintf("addprinc -pw %s %s@%s", password, name, k.Realm))
}

// AddService creates the service principal spn@Realm (e.g.
// "HTTP/127.0.0.1") with a random key and returns the path of a keytab
// holding it.
func (k *KDC) AddService(tb testing.TB, spn string) string {
	tb.Helper()
	k.kadminQuery(tb, fmt.Sprintf("addprinc -randkey %s@%s", spn, k.Realm))
	kt := filepath.Join(k.Dir, strings.NewReplacer("/", "_", ":", "_").Replace(spn)+".keytab")
	k.kadminQuery(tb, fmt.Sprintf("ktadd -k %s -norandkey %s@%s", kt, spn, k.Realm))
	return kt
}

// Stop ends the KDC (a test of "KDC down" may call it early).
func (k *KDC) Stop() {
	if k.stopped || k.cmd == nil || k.cmd.Process == nil {
		return
	}
	k.stopped = true
	_ = k.cmd.Process.Kill()
	<-k.done
}
