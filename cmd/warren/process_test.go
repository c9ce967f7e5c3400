package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// processLimit bounds every run of the warren binary in the tests.
const processLimit = time.Minute

// binary is the warren binary the tests build once and run as a
// subprocess; TestMain removes its directory.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// warrenBinary returns the path of the warren binary, building it on the
// first call.
func warrenBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "warren-cli-test-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "warren")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = errors.New("go build: " + err.Error() + ": " + string(out))
		}
	})
	if binary.err != nil {
		t.Fatalf("building warren: %v", binary.err)
	}
	return binary.path
}

// testBrokerURL is the broker the subprocess tests use.
func testBrokerURL() string {
	if u := os.Getenv("WARREN_TEST_AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// uniqueName returns a broker object name for one test: cli-<name>-<8 hex>.
func uniqueName(t *testing.T, name string) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "cli-" + name + "-" + hex.EncodeToString(b[:])
}

// process is a running warren binary.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr watchedBuffer
	done           chan struct{} // closed once it exited
	code           int           // its exit code, set before done closes
}

// startWarren runs the warren binary with args and WARREN_* variables
// cleared. It is killed when the test ends if it still runs.
func startWarren(t *testing.T, args ...string) *process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), processLimit)
	p := &process{done: make(chan struct{})}
	p.stdout.changed = make(chan struct{}, 1)
	p.stderr.changed = make(chan struct{}, 1)
	p.cmd = exec.CommandContext(ctx, warrenBinary(t), args...)
	p.cmd.Env = append(os.Environ(), "WARREN_TRANSPORT_URL=", "WARREN_CONTROL_EXCHANGE=")
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting warren %q: %v", args, err)
	}
	go func() {
		defer cancel()
		err := p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		if err != nil && p.code < 0 {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// runBinary runs the warren binary with args until it exits, and returns
// its exit code and output.
func runBinary(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := startWarren(t, args...)
	p.wait(t)
	return p.code, p.stdout.String(), p.stderr.String()
}

// wait waits for p to exit.
func (p *process) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(processLimit):
		t.Fatalf("warren %q did not exit within %v\nstderr:\n%s", p.cmd.Args[1:], processLimit, p.stderr.String())
	}
}

// waitOutput waits until b holds want, failing the test after limit.
func (p *process) waitOutput(t *testing.T, b *watchedBuffer, want string, limit time.Duration) {
	t.Helper()
	timeout := time.After(limit)
	for !strings.Contains(b.String(), want) {
		select {
		case <-b.changed:
		case <-p.done:
			if !strings.Contains(b.String(), want) {
				t.Fatalf("warren %q exited (%d) without printing %q\nstdout:\n%s\nstderr:\n%s",
					p.cmd.Args[1:], p.code, want, p.stdout.String(), p.stderr.String())
			}
		case <-timeout:
			t.Fatalf("warren %q did not print %q within %v\nstdout:\n%s\nstderr:\n%s",
				p.cmd.Args[1:], want, limit, p.stdout.String(), p.stderr.String())
		}
	}
}

// watchedBuffer is a bytes.Buffer safe for a process's output copier and
// the test at once, which signals changed after each write.
type watchedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func (b *watchedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return b.b.Write(p)
}

func (b *watchedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// deleteOnBroker deletes queues and exchanges when the test ends, after
// the processes it started were stopped. What does not exist is fine.
func deleteOnBroker(t *testing.T, queues, exchanges []string) {
	t.Helper()
	t.Cleanup(func() {
		conn, err := amqp.Dial(testBrokerURL())
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer conn.Close()
		do := func(what string, f func(ch *amqp.Channel) error) {
			ch, err := conn.Channel()
			if err != nil {
				t.Errorf("cleanup: %s: %v", what, err)
				return
			}
			defer ch.Close()
			var ae *amqp.Error
			if err := f(ch); err != nil && !(errors.As(err, &ae) && ae.Code == amqp.NotFound) {
				t.Errorf("cleanup: %s: %v", what, err)
			}
		}
		for _, q := range queues {
			do("deleting queue "+q, func(ch *amqp.Channel) error { _, err := ch.QueueDelete(q, false, false, false); return err })
		}
		for _, x := range exchanges {
			do("deleting exchange "+x, func(ch *amqp.Channel) error { return ch.ExchangeDelete(x, false, false) })
		}
	})
}
