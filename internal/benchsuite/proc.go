package benchsuite

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/rabbit"
)

// serverEnv is the environment variable that makes a program that runs
// the suite a server process of it: it holds the serverSpec as JSON.
const serverEnv = "WARREN_BENCHSUITE_SERVER"

// Roles of a server process.
const (
	roleWarren   = "warren"   // an rpcserver of an echo endpoint, and three for fanout
	roleBaseline = "baseline" // the hand-written amqp091 servers and cast consumers
)

// serverSpec is what a server process serves.
type serverSpec struct {
	Role     string `json:"role"`
	URL      string `json:"url"`
	Topic    string `json:"topic"`
	Exchange string `json:"exchange"`
	// Quorum serves with the quorum ("modern") queue preset.
	Quorum bool `json:"quorum"`
	// Fanout is true when the process serves the fanout rows too: three
	// warren replicas of fanoutTopic(Topic), or the baseline's three
	// fanout queues.
	Fanout bool `json:"fanout"`
}

// ServeIfChild makes the process a server process of the suite when the
// suite started it so, and then exits; otherwise it returns at once. Every
// program that runs the suite (its command, the TestMain of its tests)
// calls it first: the suite runs its servers in processes of their own,
// started from the program's own executable, so that the CPU time of
// clients and servers is measured apart.
func ServeIfChild() {
	raw := os.Getenv(serverEnv)
	if raw == "" {
		return
	}
	os.Exit(serveChild(raw, os.Stdin, os.Stdout))
}

// serveChild serves the serverSpec raw until in ends. It writes "ready"
// once it serves, or "error <why>"; then it answers each line "cpu" of
// in with "cpu <nanoseconds>", the CPU time of the process so far. It
// returns the exit code.
func serveChild(raw string, in io.Reader, out io.Writer) int {
	var spec serverSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintf(out, "error %s: %v\n", serverEnv, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	stop, err := spec.start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(out, "error %v\n", err)
		return 1
	}
	fmt.Fprintln(out, "ready")
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		if lines.Text() == "cpu" {
			fmt.Fprintf(out, "cpu %d\n", cpuTime())
		}
	}
	stop()
	return 0
}

// start starts what s describes and returns the function that stops it.
func (s serverSpec) start(ctx context.Context) (stop func(), err error) {
	switch s.Role {
	case roleWarren:
		return startWarrenServers(ctx, s)
	case roleBaseline:
		q := rawNames(s.Topic)
		srv, err := startRawServer(s.URL, q.echo)
		if err != nil {
			return nil, err
		}
		jsrv, err := startRawJSONServer(s.URL, q.json)
		if err != nil {
			srv.close()
			return nil, err
		}
		queues := []string{q.cast, q.warrenCast}
		if s.Fanout {
			queues = append(queues, q.fanout...)
		}
		drain, err := startRawDrain(s.URL, queues...)
		if err != nil {
			srv.close()
			jsrv.close()
			return nil, err
		}
		return func() { srv.close(); jsrv.close(); drain.close() }, nil
	}
	return nil, fmt.Errorf("benchsuite: unknown server role %q", s.Role)
}

// preset returns the queue preset of the rows with quorum queues, or of
// the others.
func preset(quorum bool) rabbit.Queues {
	return rabbit.Queues{Quorum: quorum, TransientQuorum: quorum}
}

// rawQueueNames names the queues that the baseline's process consumes,
// and the baseline's fanout exchange. Both the suite and the baseline's
// process derive them from the run's topic.
type rawQueueNames struct {
	echo string // requests of the byte-echo server
	json string // requests of the encoding/json server
	cast string // the baseline's casts
	// warrenCast is the topic, and the queue, of warren's casts in the
	// cast rows that measure the publishers: drained by the baseline's
	// process, like the baseline's cast queue, so that warren's casts
	// and the baseline's meet the same consumer.
	warrenCast     string
	fanoutExchange string   // the fanout exchange of the baseline's fanout casts
	fanout         []string // the three queues bound to it
}

// rawNames returns the names of the baseline's queues for topic:
// <topic>-raw, -rawjson, -rawcast and -wcast, and -rawfan1 to 3 bound to
// the fanout exchange <topic>-rawfan.
func rawNames(topic string) rawQueueNames {
	n := rawQueueNames{echo: topic + "-raw", json: topic + "-rawjson", cast: topic + "-rawcast", warrenCast: topic + "-wcast", fanoutExchange: topic + "-rawfan"}
	for i := range 3 {
		n.fanout = append(n.fanout, fmt.Sprintf("%s%d", n.fanoutExchange, i+1))
	}
	return n
}

// fanoutTopic is the topic of the fanout rows' three warren replicas:
// the call and cast rows' topic has one server, as the baseline has one.
func fanoutTopic(topic string) string { return topic + "-fan" }

// startWarrenServers starts an rpcserver, s1, serving echo on s's topic,
// and with s.Fanout three replicas, f1 to f3, on fanoutTopic; each on a
// transport of its own.
func startWarrenServers(ctx context.Context, s serverSpec) (stop func(), err error) {
	ep := endpoints.New()
	endpoints.Register(ep, echoMethod, func(_ context.Context, a echoArgs) (echoArgs, error) { return a, nil })
	disp, err := dispatcher.New([]*endpoints.Endpoint{ep})
	if err != nil {
		return nil, err
	}
	var (
		trs    []*rabbit.Transport
		srvs   []*rpcserver.Server
		served sync.WaitGroup
	)
	stop = func() {
		for _, srv := range srvs {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = srv.Shutdown(sctx)
			cancel()
		}
		served.Wait()
		for _, tr := range trs {
			_ = tr.Close()
		}
	}
	targets := []target.Target{{Topic: s.Topic, Server: "s1"}}
	if s.Fanout {
		for i := range 3 {
			targets = append(targets, target.Target{Topic: fanoutTopic(s.Topic), Server: fmt.Sprintf("f%d", i+1)})
		}
	}
	for _, tg := range targets {
		tr, err := rabbit.Dial(ctx, s.URL, rabbit.ControlExchange(s.Exchange), rabbit.QueuePreset(preset(s.Quorum)))
		if err != nil {
			stop()
			return nil, fmt.Errorf("benchsuite: server: %w", err)
		}
		trs = append(trs, tr)
		srv := rpcserver.New(tr, tg, disp)
		if err := srv.Listen(ctx); err != nil {
			stop()
			return nil, fmt.Errorf("benchsuite: server: %w", err)
		}
		srvs = append(srvs, srv)
		served.Go(func() { _ = srv.Serve(context.Background()) })
	}
	return stop, nil
}

// serverProc is a running server process, as the parent sees it.
type serverProc struct {
	spec serverSpec
	cmd  *exec.Cmd
	in   io.WriteCloser
	done chan struct{} // closed once the process exited

	mu    sync.Mutex // orders the questions on in and the answers on lines
	lines chan string
}

// errNoChild explains a server process that ended before it was ready.
var errNoChild = errors.New("the server process ended before it was ready: does the program call benchsuite.ServeIfChild first?")

// startServerProc starts this program's executable as a server process of
// spec and returns once it serves.
func startServerProc(ctx context.Context, spec serverSpec) (*serverProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("benchsuite: %w", err)
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	// A test binary that lacks the ServeIfChild hook runs no test.
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), serverEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("benchsuite: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("benchsuite: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("benchsuite: %w", err)
	}
	p := &serverProc{spec: spec, cmd: cmd, in: in, done: make(chan struct{}), lines: make(chan string)}
	// The reader ends when the process closes its stdout: when it exits.
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		_ = cmd.Wait()
	}()
	line, err := p.next(ctx)
	switch {
	case err != nil:
	case strings.HasPrefix(line, "error "):
		err = errors.New(strings.TrimPrefix(line, "error "))
	case line != "ready":
		err = fmt.Errorf("unexpected %q", line)
	}
	if err != nil {
		p.kill()
		return nil, fmt.Errorf("benchsuite: %s server: %w", spec.Role, err)
	}
	return p, nil
}

// next returns the next line the process writes, or an error when it
// exits or ctx ends first.
func (p *serverProc) next(ctx context.Context) (string, error) {
	select {
	case l := <-p.lines:
		return l, nil
	case <-p.done:
		return "", errNoChild
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// cpu returns the CPU time the process has used so far.
func (p *serverProc) cpu(ctx context.Context) (time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.in, "cpu\n"); err != nil {
		return 0, fmt.Errorf("benchsuite: %s server: %w", p.spec.Role, err)
	}
	line, err := p.next(ctx)
	if err != nil {
		return 0, fmt.Errorf("benchsuite: %s server: %w", p.spec.Role, err)
	}
	ns, err := strconv.ParseInt(strings.TrimPrefix(line, "cpu "), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("benchsuite: %s server: answered %q", p.spec.Role, line)
	}
	return time.Duration(ns), nil
}

// close stops the process: it closes its stdin, and kills it when it has
// not exited 30 s later.
func (p *serverProc) close() {
	_ = p.in.Close()
	p.wait(time.After(30 * time.Second))
}

// kill kills the process and waits for it to exit.
func (p *serverProc) kill() { p.wait(nil) }

// wait waits for the process to exit, discarding what it writes, and
// kills it at once when kill is nil, else when kill fires.
func (p *serverProc) wait(kill <-chan time.Time) {
	if kill == nil {
		_ = p.cmd.Process.Kill()
	}
	for {
		select {
		case <-p.lines:
		case <-kill:
			_ = p.cmd.Process.Kill()
		case <-p.done:
			return
		}
	}
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
