package integration_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// peerLifetime is how long a Python peer runs at most: it exits by itself
// after that, and is killed a little later if it did not.
const peerLifetime = 60 * time.Second

// pythonPath is the interpreter that runs the Python peers.
func pythonPath() string {
	if p := os.Getenv("WARREN_TEST_PYTHON"); p != "" {
		return p
	}
	return "/usr/bin/python3"
}

var pythonCheck struct {
	once sync.Once
	err  error
}

// python returns the interpreter for the Python peers, failing the test
// when it cannot import oslo_messaging.
func python(t *testing.T) string {
	t.Helper()
	py := pythonPath()
	pythonCheck.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), peerLifetime)
		defer cancel()
		out, err := exec.CommandContext(ctx, py, "-c", "import oslo_messaging").CombinedOutput()
		if err != nil {
			pythonCheck.err = fmt.Errorf("%s -c 'import oslo_messaging': %v: %s", py, err, bytes.TrimSpace(out))
		}
	})
	if pythonCheck.err != nil {
		t.Fatalf("the Python peer is missing: %v\n"+
			"the interoperability tests need Python oslo.messaging 14.x (Debian python3-oslo.messaging): "+
			"run ./scripts/test, which installs it, or point WARREN_TEST_PYTHON at an interpreter that has it",
			pythonCheck.err)
	}
	return py
}

// osloURL is the broker URL as oslo.messaging takes it: scheme rabbit.
func osloURL(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(brokerURL())
	if err != nil {
		t.Fatalf("parsing WARREN_TEST_AMQP_URL %q: %v", brokerURL(), err)
	}
	if u.Scheme == "amqps" {
		q := u.Query()
		q.Set("ssl", "true")
		u.RawQuery = q.Encode()
	}
	u.Scheme = "rabbit"
	return u.String()
}

// peer is a running Python oslo.messaging script from testdata. Its stdout
// lines are collected as they come; its stderr is shown when the test
// fails.
type peer struct {
	script string
	stdin  io.WriteCloser
	stderr lockedBuffer

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // receives after lines grew; capacity 1

	done    chan struct{} // closed once the process exited and its output was read
	waitErr error         // the process's exit; set before done closes
}

// startPeer runs testdata/script with args and the peer lifetime in
// seconds as its last argument. When the test ends, it closes the
// script's stdin (which stops the servers), waits for it to exit, and
// kills it if it does not.
func startPeer(t *testing.T, script string, args ...string) *peer {
	t.Helper()
	return startPeerEnv(t, nil, script, args...)
}

// startPeerEnv is startPeer with env added to the script's environment.
func startPeerEnv(t *testing.T, env []string, script string, args ...string) *peer {
	t.Helper()
	py := python(t)
	ctx, cancel := context.WithTimeout(context.Background(), peerLifetime+20*time.Second)
	args = append([]string{filepath.Join("testdata", script)}, args...)
	args = append(args, strconv.Itoa(int(peerLifetime/time.Second)))
	cmd := exec.CommandContext(ctx, py, args...)
	cmd.WaitDelay = 5 * time.Second
	// Its own process group: oslo.messaging's queue manager reads the
	// start time of the group's leader, which must be alive.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	p := &peer{script: script, changed: make(chan struct{}, 1), done: make(chan struct{})}
	cmd.Stderr = &p.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		t.Fatalf("%s: %v", script, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatalf("%s: %v", script, err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s %s: %v", py, script, err)
	}
	p.stdin = stdin
	go p.collect(stdout, cmd.Wait)
	t.Cleanup(func() {
		defer cancel()
		_ = p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not exit within 30 s of its stdin closing; killing it", script)
			cancel()
			<-p.done
		}
		if p.waitErr != nil {
			t.Errorf("%s exited with %v\nstderr:\n%s", script, p.waitErr, p.stderr.String())
		} else if t.Failed() {
			t.Logf("%s stderr:\n%s", script, p.stderr.String())
		}
	})
	return p
}

// collect records the lines of stdout as they come, then calls wait and
// closes p.done with its result in p.waitErr.
func (p *peer) collect(stdout io.Reader, wait func() error) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, sc.Text())
		p.mu.Unlock()
		select {
		case p.changed <- struct{}{}:
		default:
		}
	}
	p.waitErr = wait()
	close(p.done)
}

// waitLine returns the first stdout line for which match is true, waiting
// for it until limit; the test fails when it does not come.
func (p *peer) waitLine(t *testing.T, what string, limit time.Duration, match func(string) bool) string {
	t.Helper()
	timeout := time.After(limit)
	for {
		exited := false
		select {
		case <-p.done:
			exited = true
		default:
		}
		p.mu.Lock()
		lines := slices.Clone(p.lines)
		p.mu.Unlock()
		for _, l := range lines {
			if match(l) {
				return l
			}
		}
		if exited {
			t.Fatalf("%s exited (%v) before printing %s\nstdout:\n%s\nstderr:\n%s",
				p.script, p.waitErr, what, strings.Join(lines, "\n"), p.stderr.String())
		}
		select {
		case <-p.changed:
		case <-p.done:
		case <-timeout:
			t.Fatalf("%s did not print %s within %v\nstderr:\n%s", p.script, what, limit, p.stderr.String())
		}
	}
}

// waitReady waits for the READY line: a server's queues are declared, a
// client's transport is set up. Python needs a few seconds to start.
func (p *peer) waitReady(t *testing.T) {
	t.Helper()
	p.waitLine(t, "READY", 45*time.Second, func(l string) bool { return l == "READY" })
}

// waitRecord waits for the server's report of a "record" cast with value.
func (p *peer) waitRecord(t *testing.T, value string) {
	t.Helper()
	p.waitLine(t, "the record event for "+value, waitLimit, func(l string) bool {
		var e struct{ Event, Value string }
		return json.Unmarshal([]byte(l), &e) == nil && e.Event == "record" && e.Value == value
	})
}

// snapshot returns the stdout lines printed so far.
func (p *peer) snapshot() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// lockedBuffer is a bytes.Buffer safe for the command's stderr copier and
// the test at once. When changed is not nil, each write signals it.
type lockedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		select {
		case b.changed <- struct{}{}:
		default:
		}
	}
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
