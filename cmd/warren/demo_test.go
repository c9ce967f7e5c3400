package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
)

// demoSections are the section titles of the demo, in order.
var demoSections = []string{
	"== start: three replicas share one topic ==",
	"== call: each call runs on one replica, round robin ==",
	"== cast: one replica runs it; the caller does not wait for it ==",
	"== fanout cast: every replica gets it ==",
	`== server-direct call: Prepare(rpcclient.Server("calc-2")) ==`,
	"== remote error: what the method returned comes back as *rpcerr.RemoteError ==",
	"== timeout: sleep(seconds=10) with a 200ms deadline ==",
	"== shutdown: each replica finishes its requests and stops ==",
}

func TestDemo(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	code, stdout, stderr := runWarren(t, "demo")
	if code != exitOK {
		t.Errorf("warren demo = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if stderr != "" {
		t.Errorf("warren demo wrote on stderr:\n%s", stderr)
	}
	if !strings.HasPrefix(stdout, `warren demo: 3 calculator replicas on topic "warren-demo", on the in-process memory driver (memory://, since WARREN_TRANSPORT_URL is not set)`) {
		t.Errorf("warren demo does not start with its header:\n%s", stdout)
	}
	last := -1
	for _, s := range demoSections {
		i := strings.Index(stdout, s)
		switch {
		case i < 0:
			t.Errorf("warren demo lacks section %q", s)
		case i < last:
			t.Errorf("warren demo shows section %q out of order", s)
		default:
			last = i
		}
	}
	for _, want := range []string{
		"ok    calc-1 listening on warren-demo, warren-demo.calc-1 and warren-demo_fanout",
		"ok    divide(num1=200, num2=100) = 2 ",
		"ok    divide(num1=9) = 9 ",
		"ok    add(a=2, b=3) = 5 ",
		"replicas that answered: ",
		`ok    cast record(item="apple")`,
		`recorded "apple" on calc-`,
		"ok    calc-1 got reset()",
		"ok    calc-2 got reset()",
		"ok    calc-3 got reset()",
		`ok    whoami() = "calc-2"              answered by calc-2`,
		"ok    add(a=40, b=2) = 42              answered by calc-2",
		"ok    divide(num1=1, num2=0) failed: warren.InvalidOperation: invalid operation",
		"ok    divide(num1=1, x=2) failed: builtins.TypeError: divide() got an unexpected keyword argument 'x'",
		"ok    square(n=3) failed: errors.Is(err, rpcerr.ErrNoSuchMethod) = true",
		"ok    errors.Is(err, transport.ErrTimeout) = true",
		"ok    errors.Is(err, context.DeadlineExceeded) = true",
		"ok    calc-3 stopped",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("warren demo output lacks %q", want)
		}
	}
	if strings.Contains(stdout, "FAIL") {
		t.Errorf("warren demo reports a failure:\n%s", stdout)
	}
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); !strings.HasPrefix(lines[len(lines)-1], "demo passed: all ") {
		t.Errorf("warren demo does not end with its summary:\n%s", stdout)
	}
}

// fanoutFails is a transport whose fanout casts fail.
type fanoutFails struct{ transport.Transport }

func (t fanoutFails) Cast(ctx context.Context, tgt target.Target, req *message.Request) error {
	if tgt.Fanout {
		return transport.ErrConnectionLost
	}
	return t.Transport.Cast(ctx, tgt, req)
}

func TestDemoReportsFailure(t *testing.T) {
	tr := memory.New()
	defer tr.Close()
	var out bytes.Buffer
	code := runDemoOn(t.Context(), fanoutFails{tr}, "demo-test", "on a faulty transport", &out)
	if code != exitFailed {
		t.Errorf("demo on a transport whose fanout casts fail = %d, want %d", code, exitFailed)
	}
	stdout := out.String()
	for _, want := range []string{
		"FAIL  fanout cast reset() sent",
		"transport: connection lost",
		"ok    calc-3 stopped",
		"\ndemo FAILED: 1 of ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}
