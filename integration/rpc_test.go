package integration_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/rabbit"
)

// calcEndpoint returns the endpoint Go servers serve in these tests (version
// 1.3 unless opts say otherwise). Handlers count what they run in c and
// report casts of "record" on events; either may be nil.
func calcEndpoint(name string, c *counter, events chan<- event, opts ...endpoints.Option) *endpoints.Endpoint {
	e := endpoints.New(append([]endpoints.Option{endpoints.Version("1.3")}, opts...)...)
	count := func(method string) {
		if c != nil {
			c.add(name, method)
		}
	}
	endpoints.Register(e, "add", func(_ context.Context, a addArgs) (int, error) {
		count("add")
		return a.A + a.B, nil
	})
	endpoints.Register(e, "mul", func(_ context.Context, a struct{ A, B float64 }) (float64, error) {
		count("mul")
		return a.A * a.B, nil
	})
	endpoints.Register(e, "echo", func(_ context.Context, a struct{ Text string }) (string, error) {
		count("echo")
		return a.Text, nil
	})
	endpoints.Register(e, "info", func(context.Context, struct{}) (map[string]any, error) {
		count("info")
		return map[string]any{"server": name, "tags": []string{"a", "b"}, "n": 3}, nil
	})
	endpoints.Register(e, "whoami", func(context.Context, struct{}) (string, error) {
		count("whoami")
		return name, nil
	})
	endpoints.Register(e, "ctx_user", func(ctx context.Context, _ struct{}) (any, error) {
		count("ctx_user")
		return endpoints.RequestContext(ctx)["user"], nil
	})
	endpoints.Register(e, "record", func(ctx context.Context, a struct{ Value string }) (any, error) {
		count("record")
		if events != nil {
			select {
			case events <- event{Server: name, Method: "record", Value: a.Value}:
			case <-ctx.Done():
			}
		}
		return nil, nil
	})
	endpoints.Register(e, "echo_any", func(_ context.Context, m map[string]any) (map[string]any, error) {
		count("echo_any")
		return m, nil
	})
	endpoints.Register(e, "fail", func(context.Context, struct{}) (any, error) {
		count("fail")
		return nil, rpcerr.NewError("InvalidOperation", "invalid operation")
	})
	endpoints.Register(e, "fail_value_error", func(context.Context, struct{}) (any, error) {
		count("fail_value_error")
		return nil, &rpcerr.Error{Class: "ValueError", Module: "builtins", Message: "bad value 42"}
	})
	endpoints.Register(e, "slow", func(ctx context.Context, a struct{ Seconds float64 }) (string, error) {
		count("slow")
		select {
		case <-time.After(time.Duration(a.Seconds * float64(time.Second))):
			return "slept", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	return e
}

func TestReplicasShareCalls(t *testing.T) {
	b := newBus(t, "replicas")
	c := newCounter()
	servers := []string{"s1", "s2", "s3"}
	for _, s := range servers {
		startServer(t, b, s, []*endpoints.Endpoint{calcEndpoint(s, c, nil)})
	}
	client := newClient(t, b)

	const calls, workers = 300, 10
	ctx := withTimeout(t, 60*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < calls; i += workers {
				var sum int
				if err := client.Call(ctx, "add", addArgs{A: i, B: 1000}, &sum); err != nil {
					errs <- fmt.Errorf("add(%d, 1000): %w", i, err)
					continue
				}
				if sum != i+1000 {
					errs <- fmt.Errorf("add(%d, 1000) = %d, want %d", i, sum, i+1000)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	total := 0
	for _, s := range servers {
		n := c.get(s, "add")
		total += n
		if n == 0 {
			t.Errorf("server %s handled no call; want every replica to take some", s)
		}
	}
	if total != calls {
		t.Errorf("servers handled %d calls in all, want %d", total, calls)
	}
	t.Logf("calls per server: s1=%d s2=%d s3=%d", c.get("s1", "add"), c.get("s2", "add"), c.get("s3", "add"))
}

func TestFanoutReachesAll(t *testing.T) {
	b := newBus(t, "fanout")
	c := newCounter()
	events := make(chan event, 16)
	servers := []string{"s1", "s2", "s3"}
	for _, s := range servers {
		// One worker: each server handles its fanout queue strictly in
		// order, so the marker below comes after any duplicate.
		startServer(t, b, s, []*endpoints.Endpoint{calcEndpoint(s, c, events)}, rpcserver.Workers(1))
	}
	client := newClient(t, b)
	fan := client.Prepare(rpcclient.Fanout())
	ctx := withTimeout(t, 30*time.Second)

	if err := fan.Cast(ctx, "record", map[string]string{"value": "hello"}); err != nil {
		t.Fatalf("fanout Cast: %v", err)
	}
	got := waitEvents(t, events, len(servers))
	var reached []string
	for _, e := range got {
		if e.Value != "hello" {
			t.Errorf("event %+v, want value hello", e)
		}
		reached = append(reached, e.Server)
	}
	slices.Sort(reached)
	if !slices.Equal(reached, servers) {
		t.Errorf("fanout cast reached %v, want each of %v once", reached, servers)
	}

	// No extra copies: a second fanout cast comes after any copy of the
	// first in each server's fanout queue, and a call to each server by
	// name goes through its own queue; then every server still counts one.
	if err := fan.Cast(ctx, "record", map[string]string{"value": "marker"}); err != nil {
		t.Fatalf("fanout Cast (marker): %v", err)
	}
	for _, e := range waitEvents(t, events, len(servers)) {
		if e.Value != "marker" {
			t.Errorf("event %+v after the first round; want only markers (an extra copy of the first cast?)", e)
		}
	}
	for _, s := range servers {
		var who string
		if err := client.Prepare(rpcclient.Server(s)).Call(ctx, "whoami", nil, &who); err != nil || who != s {
			t.Errorf("whoami on %s = %q, %v; want %q, nil", s, who, err, s)
		}
		if n := c.get(s, "record"); n != 2 {
			t.Errorf("server %s ran record %d times, want 2 (one per fanout cast)", s, n)
		}
	}
	select {
	case e := <-events:
		t.Errorf("extra event %+v", e)
	default:
	}
}

func TestServerDirect(t *testing.T) {
	b := newBus(t, "direct")
	c := newCounter()
	servers := []string{"s1", "s2", "s3"}
	for _, s := range servers {
		startServer(t, b, s, []*endpoints.Endpoint{calcEndpoint(s, c, nil)})
	}
	s2 := newClient(t, b).Prepare(rpcclient.Server("s2"))
	ctx := withTimeout(t, 30*time.Second)

	const calls = 20
	for i := range calls {
		var who string
		if err := s2.Call(ctx, "whoami", nil, &who); err != nil || who != "s2" {
			t.Fatalf("call %d: whoami = %q, %v; want s2, nil", i, who, err)
		}
	}
	want := map[string]int{"s1": 0, "s2": calls, "s3": 0}
	for s, n := range want {
		if got := c.get(s, "whoami"); got != n {
			t.Errorf("server %s handled %d calls, want %d", s, got, n)
		}
	}
}

func TestNoRouteFailsFast(t *testing.T) {
	b := newBus(t, "noroute")
	// s1 listens on the topic, so that "a server nobody runs" is a missing
	// <topic>.<server> binding beside a live topic.
	startServer(t, b, "s1", []*endpoints.Endpoint{calcEndpoint("s1", nil, nil)})
	client := newClient(t, b)
	nb := newBus(t, "nobody") // publishers declare its exchanges; delete them too
	nobody := client.Prepare(rpcclient.Exchange(nb.Exchange), rpcclient.Topic(nb.Topic))

	const bound = 3 * time.Second
	tests := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"call to a topic nobody listens on", func(ctx context.Context) error {
			return nobody.Call(ctx, "add", addArgs{A: 1, B: 2}, nil)
		}},
		{"cast to a topic nobody listens on", func(ctx context.Context) error {
			return nobody.Cast(ctx, "add", addArgs{A: 1, B: 2})
		}},
		{"fanout cast to a topic nobody listens on", func(ctx context.Context) error {
			return nobody.Prepare(rpcclient.Fanout()).Cast(ctx, "add", addArgs{A: 1, B: 2})
		}},
		{"call to a server nobody runs", func(ctx context.Context) error {
			return client.Prepare(rpcclient.Server("ghost")).Call(ctx, "add", addArgs{A: 1, B: 2}, nil)
		}},
		{"cast to a server nobody runs", func(ctx context.Context) error {
			return client.Prepare(rpcclient.Server("ghost")).Cast(ctx, "add", addArgs{A: 1, B: 2})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := withTimeout(t, 10*time.Second)
			start := time.Now()
			err := tt.do(ctx)
			elapsed := time.Since(start)
			if !errors.Is(err, transport.ErrNoRoute) {
				t.Errorf("err = %v, want one matching transport.ErrNoRoute", err)
			}
			if elapsed > bound {
				t.Errorf("failing took %v, want under %v (fail fast, not at the 10 s deadline)", elapsed, bound)
			}
		})
	}
}

func TestSlowHandlerTimesOut(t *testing.T) {
	b := newBus(t, "slow")
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	e := endpoints.New()
	e.Handle("block", endpoints.HandlerFunc(func(context.Context, json.RawMessage) (any, error) {
		started <- struct{}{}
		<-release // ignores its ctx, as a stuck handler would
		return "released", nil
	}))
	startServer(t, b, "s1", []*endpoints.Endpoint{e})
	t.Cleanup(func() { close(release) }) // before the server shuts down
	client := newClient(t, b)

	const deadline = time.Second
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	start := time.Now()
	err := client.Call(ctx, "block", nil, nil)
	elapsed := time.Since(start)
	if !errors.Is(err, transport.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Call = %v, want an error matching transport.ErrTimeout and context.DeadlineExceeded", err)
	}
	if limit := deadline + 3*time.Second; elapsed > limit {
		t.Errorf("Call returned after %v, want by about its %v deadline (limit %v)", elapsed, deadline, limit)
	}
	select {
	case <-started:
	default:
		t.Error("the handler never started: the timeout did not come from a slow handler")
	}
}

func TestCallMonitorKeepsSlowCallAlive(t *testing.T) {
	b := newBus(t, "monitor")
	startServer(t, b, "s1", []*endpoints.Endpoint{calcEndpoint("s1", nil, nil)})
	client := newClient(t, b, rpcclient.CallMonitor(2*time.Second))
	ctx := withTimeout(t, 20*time.Second)

	// The method outlasts the 2 s call-monitor interval: only the server's
	// heartbeats (every second) keep the call alive.
	var got string
	if err := client.Call(ctx, "slow", map[string]float64{"seconds": 3}, &got); err != nil || got != "slept" {
		t.Errorf("slow(3) with CallMonitor(2s) = %q, %v; want slept, nil", got, err)
	}
}

func TestExpiredRequestNotRun(t *testing.T) {
	b := newBus(t, "expired")
	c := newCounter()
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	e := endpoints.New()
	e.Handle("block", endpoints.HandlerFunc(func(context.Context, json.RawMessage) (any, error) {
		started <- struct{}{}
		<-release
		return "released", nil
	}))
	endpoints.Register(e, "late", func(_ context.Context, a struct{ Value string }) (string, error) {
		c.add("s1", "late/"+a.Value)
		return a.Value, nil
	})
	// One worker: a request waits while the worker is busy.
	startServer(t, b, "s1", []*endpoints.Endpoint{e}, rpcserver.Workers(1))
	var once sync.Once
	releaseWorker := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseWorker)
	client := newClient(t, b)
	ctx := withTimeout(t, 30*time.Second)

	t.Run("deadline passes while queued", func(t *testing.T) {
		blocked := make(chan error, 1)
		go func() { blocked <- client.Call(ctx, "block", nil, nil) }()
		select {
		case <-started:
		case err := <-blocked:
			t.Fatalf("block returned %v before it started", err)
		case <-time.After(waitLimit):
			t.Fatal("block did not start")
		}

		short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		if err := client.Call(short, "late", map[string]string{"value": "queued"}, nil); !errors.Is(err, transport.ErrTimeout) {
			t.Errorf("late call behind a busy worker = %v, want a timeout", err)
		}
		releaseWorker()
		if err := <-blocked; err != nil {
			t.Errorf("block = %v, want nil", err)
		}
		// The queue is first in, first out and the server has one worker:
		// once this call is answered, the expired one was taken and dropped.
		var got string
		if err := client.Call(ctx, "late", map[string]string{"value": "fresh"}, &got); err != nil || got != "fresh" {
			t.Fatalf("late(fresh) = %q, %v; want fresh, nil", got, err)
		}
		if n := c.get("s1", "late/queued"); n != 0 {
			t.Errorf("the handler ran %d times for the request whose deadline passed in the queue, want 0", n)
		}
		if n := c.get("s1", "late/fresh"); n != 1 {
			t.Errorf("the handler ran %d times for the fresh request, want 1", n)
		}
	})

	t.Run("deadline header in the past", func(t *testing.T) {
		// Raw casts to s1's own queue, one past its x-warren-deadline and
		// one before it, then a call through the same queue.
		conn, err := amqp.Dial(brokerURL())
		if err != nil {
			t.Fatalf("amqp.Dial: %v", err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatalf("Channel: %v", err)
		}
		// Confirms: the barrier call below must not overtake the casts,
		// which travel on another connection.
		if err := ch.Confirm(false); err != nil {
			t.Fatalf("Confirm: %v", err)
		}
		now := time.Now()
		for _, m := range []struct {
			value    string
			deadline time.Time
		}{
			{"past", now.Add(-time.Minute)},
			{"future", now.Add(time.Minute)},
		} {
			body := osloCast(t, "late", map[string]any{"value": m.value})
			conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, b.Exchange, b.Topic+".s1", true, false, amqp.Publishing{
				ContentType:     "application/json",
				ContentEncoding: "utf-8",
				Headers:         amqp.Table{"x-warren-deadline": m.deadline.UnixMilli()},
				Body:            body,
			})
			if err != nil {
				t.Fatalf("publishing the %s cast: %v", m.value, err)
			}
			if ok, err := conf.WaitContext(ctx); !ok || err != nil {
				t.Fatalf("the broker did not confirm the %s cast: %t, %v", m.value, ok, err)
			}
		}
		var got string
		if err := client.Prepare(rpcclient.Server("s1")).Call(ctx, "late", map[string]string{"value": "barrier"}, &got); err != nil || got != "barrier" {
			t.Fatalf("late(barrier) = %q, %v; want barrier, nil", got, err)
		}
		if n := c.get("s1", "late/future"); n != 1 {
			t.Errorf("the raw cast before its deadline ran %d times, want 1 (is the raw message well formed?)", n)
		}
		if n := c.get("s1", "late/past"); n != 0 {
			t.Errorf("the raw cast past its deadline ran %d times, want 0", n)
		}
	})
}

// osloCast returns the body of an oslo.messaging 2.0 cast of method with
// keyword arguments args.
func osloCast(t *testing.T, method string, args map[string]any) []byte {
	t.Helper()
	inner, err := json.Marshal(map[string]any{
		"method":     method,
		"args":       args,
		"_unique_id": unique(t, "u"),
	})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]string{"oslo.version": "2.0", "oslo.message": string(inner)})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestRemoteErrors(t *testing.T) {
	b := newBus(t, "errors")
	startServer(t, b, "s1", []*endpoints.Endpoint{calcEndpoint("s1", nil, nil)})
	client := newClient(t, b)
	ctx := withTimeout(t, 30*time.Second)

	tests := []remoteErrorCase{
		{name: "handler error", client: client, method: "fail",
			class: "InvalidOperation", module: "warren", message: "invalid operation"},
		{name: "builtin class", client: client, method: "fail_value_error",
			class: "ValueError", module: "builtins", message: "bad value 42"},
		{name: "unknown method", client: client, method: "no_such_method",
			class: "NoSuchMethod", module: dispatcherModule,
			message: "Endpoint does not support RPC method no_such_method", is: rpcerr.ErrNoSuchMethod},
		{name: "private method", client: client, method: "_add",
			class: "NoSuchMethod", module: dispatcherModule,
			message: "Endpoint does not support RPC method _add", is: rpcerr.ErrNoSuchMethod},
		{name: "newer major version", client: client.Prepare(rpcclient.Version("2.0")), method: "add",
			args: addArgs{A: 1, B: 1}, class: "UnsupportedVersion", module: dispatcherModule,
			message: "Endpoint does not support RPC version 2.0. Attempted method: add", is: rpcerr.ErrUnsupportedVersion},
		{name: "unknown keyword argument", client: client, method: "add",
			args: map[string]int{"a": 1, "c": 2}, class: "TypeError", module: "builtins",
			message: "add() got an unexpected keyword argument 'c'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(ctx, t, false) })
	}
}

// QuotaError is a Go service's own error type.
type QuotaError struct {
	Resource string `json:"resource"`
	Limit    uint64 `json:"limit"`
}

func (e *QuotaError) Error() string { return "quota exceeded for " + e.Resource }

func (e *QuotaError) ExceptionClass() (class, module string) {
	return "QuotaExceeded", "inventory.errors"
}

// TestTypedErrorRoundTrip checks that a Go handler's own error type
// reaches a Go client through RabbitMQ with its fields, and that dispatcher
// conditions match the same sentinels on both sides.
func TestTypedErrorRoundTrip(t *testing.T) {
	b := newBus(t, "typederr")
	e := endpoints.New()
	endpoints.Register(e, "reserve", func(context.Context, struct{}) (int, error) {
		return 0, &QuotaError{Resource: "cores", Limit: 1<<64 - 1}
	})
	startServer(t, b, "go1", []*endpoints.Endpoint{e})
	reg, err := rpcerr.NewRegistry(&QuotaError{})
	if err != nil {
		t.Fatal(err)
	}
	client := newClient(t, b, rpcclient.Errors(reg))
	ctx := withTimeout(t, 30*time.Second)

	err = client.Call(ctx, "reserve", nil, nil)
	var qe *QuotaError
	if !errors.As(err, &qe) || *qe != (QuotaError{Resource: "cores", Limit: 1<<64 - 1}) {
		t.Errorf("reserve() = %v (%+v), want a *QuotaError with its fields", err, qe)
	}
	err = client.Call(ctx, "missing", nil, nil)
	if !errors.Is(err, rpcerr.ErrNoSuchMethod) {
		t.Errorf("missing() = %v, want rpcerr.ErrNoSuchMethod", err)
	}
}

// TestGracefulStopFromContext ends a server's Serve ctx, as a signal does,
// while two calls run on RabbitMQ: the one that finishes within the grace
// period gets its result, the other a ServerShuttingDown failure at once
// instead of waiting out its deadline.
func TestGracefulStopFromContext(t *testing.T) {
	b := newBus(t, "graceful")
	quickStarted, stuckStarted := make(chan struct{}, 1), make(chan struct{}, 1)
	release := make(chan struct{})
	e := endpoints.New()
	endpoints.Register(e, "quick", func(context.Context, struct{}) (string, error) {
		quickStarted <- struct{}{}
		<-release
		return "done", nil
	})
	endpoints.Register(e, "stuck", func(ctx context.Context, _ struct{}) (string, error) {
		stuckStarted <- struct{}{}
		<-ctx.Done()
		return "", ctx.Err()
	})
	d, err := dispatcher.New([]*endpoints.Endpoint{e})
	if err != nil {
		t.Fatal(err)
	}
	b.forgetServer("go1")
	srv := rpcserver.New(dial(t), b.target("go1"), d, rpcserver.GracePeriod(3*time.Second))
	if err := srv.Listen(withTimeout(t, waitLimit)); err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx) }()

	client := newClient(t, b)
	ctx := withTimeout(t, time.Minute) // far beyond the test: a caller left waiting would show
	quick, stuck := make(chan error, 1), make(chan error, 1)
	go func() {
		got, err := rpcclient.Call[string](ctx, client, "quick", nil)
		if err == nil && got != "done" {
			err = fmt.Errorf("quick() = %q, want done", got)
		}
		quick <- err
	}()
	go func() { stuck <- client.Call(ctx, "stuck", nil, nil) }()
	for _, started := range []chan struct{}{quickStarted, stuckStarted} {
		select {
		case <-started:
		case <-time.After(waitLimit):
			t.Fatal("a call did not start")
		}
	}
	began := time.Now()
	stop()
	close(release)
	for name, ch := range map[string]chan error{"quick": quick, "stuck": stuck} {
		select {
		case err := <-ch:
			switch {
			case name == "quick" && err != nil:
				t.Errorf("quick() during the grace period: %v", err)
			case name == "stuck" && !errors.Is(err, rpcerr.ErrServerShuttingDown):
				t.Errorf("stuck() past the grace period = %v, want ErrServerShuttingDown", err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("%s() got no answer within %v of the stop", name, waitLimit)
		}
	}
	select {
	case err := <-served:
		if !errors.Is(err, rpcserver.ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Serve did not return")
	}
	t.Logf("the stuck caller heard of the shutdown %v after the stop (grace period 3s)", time.Since(began).Round(10*time.Millisecond))
}

// TestReplyTooLarge has a server whose transport refuses large messages
// answer with a result above the limit: the caller gets a MessageTooLarge
// failure at once instead of waiting out its deadline.
func TestReplyTooLarge(t *testing.T) {
	b := newBus(t, "toolarge")
	e := endpoints.New()
	endpoints.Register(e, "big", func(context.Context, struct{}) (string, error) { return strings.Repeat("x", 8<<10), nil })
	d, err := dispatcher.New([]*endpoints.Endpoint{e})
	if err != nil {
		t.Fatal(err)
	}
	b.forgetServer("go1")
	srv := rpcserver.New(dial(t, rabbit.MaxMessageSize(4<<10)), b.target("go1"), d)
	if err := srv.Listen(withTimeout(t, waitLimit)); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	defer func() {
		srv.Close()
		if err := <-served; !errors.Is(err, rpcserver.ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	}()

	began := time.Now()
	_, err = rpcclient.Call[string](withTimeout(t, time.Minute), newClient(t, b), "big", nil)
	var re *rpcerr.RemoteError
	if !errors.Is(err, rpcerr.ErrReplyTooLarge) || !errors.As(err, &re) || re.Class != rpcerr.ClassMessageTooLarge {
		t.Errorf("big() = %v, want a MessageTooLarge failure", err)
	}
	t.Logf("big() failed after %v: %v", time.Since(began).Round(time.Millisecond), err)
}
