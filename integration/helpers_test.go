package integration_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/rabbit"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if warrenBinary.dir != "" {
		os.RemoveAll(warrenBinary.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// waitLimit bounds every wait for an event in these tests.
const waitLimit = 10 * time.Second

// brokerURL is the broker every test uses.
func brokerURL() string {
	if u := os.Getenv("WARREN_TEST_AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// unique returns a broker object name for one test: it-<name>-<8 hex>.
func unique(t testing.TB, name string) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("rand.Read: %v", err)
	}
	return "it-" + name + "-" + hex.EncodeToString(b[:])
}

// bus names the broker objects of one test: its own control exchange and
// topic. newBus deletes them when the test ends, after every transport,
// server and Python peer of the test is gone (cleanups run last-in
// first-out, and newBus is called first).
type bus struct {
	Exchange, Topic string

	mu      sync.Mutex
	servers []string // server names: queues <topic>.<server>
	queues  []string // other queues to delete, such as a Python reply queue
}

func newBus(t testing.TB, name string) *bus {
	t.Helper()
	b := &bus{Exchange: unique(t, name+"-x"), Topic: unique(t, name)}
	t.Cleanup(func() { b.delete(t) })
	return b
}

// target returns the bus's server or client target.
func (b *bus) target(server string) target.Target {
	return target.Target{Exchange: b.Exchange, Topic: b.Topic, Server: server}
}

// forgetServer records that server listens on the topic, so that its queue
// is deleted at the end.
func (b *bus) forgetServer(server string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.servers = append(b.servers, server)
}

// forgetQueue records a queue to delete at the end.
func (b *bus) forgetQueue(q string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queues = append(b.queues, q)
}

// delete removes the test's queues and exchanges through a raw AMQP
// connection. Objects that do not exist are fine: fanout queues and
// exchanges usually went away with their listeners.
func (b *bus) delete(t testing.TB) {
	t.Helper()
	conn, err := amqp.Dial(brokerURL())
	if err != nil {
		t.Errorf("cleanup: connecting to the broker at %s: %v", brokerURL(), err)
		return
	}
	defer conn.Close()
	b.mu.Lock()
	queues := append([]string{b.Topic}, b.queues...)
	for _, s := range b.servers {
		queues = append(queues, b.Topic+"."+s)
	}
	b.mu.Unlock()
	for _, q := range queues {
		rawDo(t, conn, "deleting queue "+q, func(ch *amqp.Channel) error {
			_, err := ch.QueueDelete(q, false, false, false)
			return err
		})
	}
	for _, x := range []string{b.Topic + "_fanout", b.Exchange} {
		rawDo(t, conn, "deleting exchange "+x, func(ch *amqp.Channel) error {
			return ch.ExchangeDelete(x, false, false)
		})
	}
}

// rawDo runs f on a fresh channel of conn, since a failed operation closes
// its channel. A 404 NOT_FOUND is not an error.
func rawDo(t testing.TB, conn *amqp.Connection, what string, f func(*amqp.Channel) error) {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Errorf("cleanup: %s: opening a channel: %v", what, err)
		return
	}
	err = f(ch)
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return
	}
	if err != nil {
		t.Errorf("cleanup: %s: %v", what, err)
	}
	_ = ch.Close()
}

// dial returns a new RabbitMQ transport with opts, as a separate process
// would have one, closed when the test ends. An unreachable broker fails
// the test.
func dial(t testing.TB, opts ...rabbit.Option) *rabbit.Transport {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	tr, err := rabbit.Dial(ctx, brokerURL(), opts...)
	if err != nil {
		t.Fatalf("rabbit.Dial(%s): %v (a RabbitMQ broker is required: run ./scripts/test, or set WARREN_TEST_AMQP_URL)", brokerURL(), err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("Transport.Close: %v", err)
		}
	})
	return tr
}

// startServer serves eps as server name on the bus, on a transport of its
// own, and returns once the server listens. The server shuts down when the
// test ends, after cleanups registered later (such as releasing blocked
// handlers) ran.
func startServer(t testing.TB, b *bus, name string, eps []*endpoints.Endpoint, opts ...rpcserver.Option) {
	t.Helper()
	b.forgetServer(name)
	serve(t, dial(t), b.target(name), eps, opts...)
}

// serve serves eps as tgt on tr and returns once the server listens. The
// server shuts down when the test ends, and Serve must then have returned
// rpcserver.ErrServerClosed.
func serve(t testing.TB, tr transport.Transport, tgt target.Target, eps []*endpoints.Endpoint, opts ...rpcserver.Option) {
	t.Helper()
	d, err := dispatcher.New(eps)
	if err != nil {
		t.Fatalf("dispatcher.New: %v", err)
	}
	srv := rpcserver.New(tr, tgt, d, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := srv.Listen(ctx); err != nil {
		t.Fatalf("server %s: Listen: %v", tgt, err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("server %s: Shutdown: %v", tgt, err)
		}
		if err := <-served; !errors.Is(err, rpcserver.ErrServerClosed) {
			t.Errorf("server %s: Serve = %v, want ErrServerClosed", tgt, err)
		}
	})
}

// newClient returns a client of the bus's topic on a transport of its own.
func newClient(t testing.TB, b *bus, opts ...rpcclient.Option) *rpcclient.Client {
	t.Helper()
	return rpcclient.New(dial(t), b.target(""), opts...)
}

// remoteErrorCase is a call that must fail with a remote error.
type remoteErrorCase struct {
	name    string
	client  *rpcclient.Client
	method  string
	args    any
	class   string
	module  string
	message string
	is      error // a sentinel the error must match, or nil
}

// check makes the call and fails t unless it returns the remote error
// described. withTraceback also requires a remote traceback, which a
// Python server sends.
func (tt remoteErrorCase) check(ctx context.Context, t *testing.T, withTraceback bool) {
	t.Helper()
	err := tt.client.Call(ctx, tt.method, tt.args, nil)
	var re *rpcerr.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("Call(%s) = %v, want a *rpcerr.RemoteError", tt.method, err)
	}
	if re.Class != tt.class || re.Module != tt.module || re.Message != tt.message {
		t.Errorf("Call(%s) = remote %s.%s %q, want %s.%s %q",
			tt.method, re.Module, re.Class, re.Message, tt.module, tt.class, tt.message)
	}
	if withTraceback && len(re.Traceback) == 0 {
		t.Errorf("Call(%s): no traceback; a Python server sends one", tt.method)
	}
	if tt.is != nil && !errors.Is(err, tt.is) {
		t.Errorf("Call(%s) = %v, want it to match %v", tt.method, err, tt.is)
	}
}

// withTimeout returns a context of the test that ends after d.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// counter counts handled requests by server and method.
type counter struct {
	mu sync.Mutex
	m  map[string]int
}

func newCounter() *counter { return &counter{m: make(map[string]int)} }

func (c *counter) add(server, method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[server+"/"+method]++
}

func (c *counter) get(server, method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[server+"/"+method]
}

type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

// event is something a handler reports to the test.
type event struct {
	Server, Method, Value string
}

// waitEvents receives n events from ch, failing the test when they do not
// arrive within waitLimit.
func waitEvents(t *testing.T, ch <-chan event, n int) []event {
	t.Helper()
	var got []event
	timeout := time.After(waitLimit)
	for len(got) < n {
		select {
		case e := <-ch:
			got = append(got, e)
		case <-timeout:
			t.Fatalf("got %d events within %v, want %d: %v", len(got), waitLimit, n, got)
		}
	}
	return got
}
