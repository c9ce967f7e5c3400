package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/notify"
	"github.com/warrenrpc/warren/serializer"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var topics = []target.Target{{Topic: notify.DefaultTopic}}

// newTransport returns a memory transport on bus, closed with the test.
func newTransport(t *testing.T, bus *memory.Bus) *memory.Transport {
	tr := memory.New(memory.OnBus(bus))
	t.Cleanup(func() { tr.Close() })
	return tr
}

// serve runs l until the test ends and checks how Serve ended.
func serve(t *testing.T, l *notify.Listener) {
	t.Helper()
	done := make(chan error, 1)
	// Once Listen returns, notifications sent reach the listener.
	if err := l.Listen(t.Context()); err != nil {
		t.Fatalf("Listen = %v", err)
	}
	go func() { done <- l.Serve(context.Background()) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown = %v", err)
		}
		if err := <-done; !errors.Is(err, notify.ErrListenerClosed) {
			t.Errorf("Serve = %v, want ErrListenerClosed", err)
		}
	})
}

// listen builds a listener with one endpoint and serves it.
func listen(t *testing.T, tr transport.Notifications, ep notify.Endpoint, opts ...notify.ListenerOption) *notify.Listener {
	t.Helper()
	l, err := notify.NewListener(tr, topics, []notify.Endpoint{ep}, opts...)
	if err != nil {
		t.Fatalf("NewListener = %v", err)
	}
	serve(t, l)
	return l
}

// recorder is a handler that sends what it gets on a channel.
func recorder(ch chan<- *notify.Notification) notify.Handler {
	return notify.HandlerFunc(func(ctx context.Context, n *notify.Notification) error {
		select {
		case ch <- n:
		case <-ctx.Done():
		}
		return nil
	})
}

func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
		panic("unreachable")
	}
}

// none checks that ch gets nothing for a while.
func none[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Errorf("got %s %v, want none", what, v)
	case <-time.After(200 * time.Millisecond):
	}
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type instance struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"`
}

func TestNotifyAndListen(t *testing.T) {
	bus := memory.NewBus()
	got := make(chan *notify.Notification, 10)
	typed := make(chan instance, 10)
	listen(t, newTransport(t, bus), notify.Endpoint{Handlers: map[notify.Priority]notify.Handler{
		notify.Info: recorder(got),
		notify.Error: notify.Typed(func(_ context.Context, _ *notify.Notification, p instance) error {
			typed <- p
			return nil
		}),
	}})
	n := notify.NewNotifier(newTransport(t, bus), "compute.host1")
	reqCtx := map[string]any{"request_id": "req-1", "is_admin": false}
	before := time.Now().Add(-time.Second)
	if err := n.Info(ctx10(t), reqCtx, "compute.instance.create.end", instance{42, "vm1", "active"}); err != nil {
		t.Fatalf("Info = %v", err)
	}
	g := await(t, got, "notification")
	if g.PublisherID != "compute.host1" || g.EventType != "compute.instance.create.end" || g.Priority != notify.Info {
		t.Errorf("got %q %q %q", g.PublisherID, g.EventType, g.Priority)
	}
	var p instance
	if err := g.Decode(&p); err != nil || p != (instance{42, "vm1", "active"}) {
		t.Errorf("Decode = %+v, %v", p, err)
	}
	if !maps.Equal(g.Context, reqCtx) {
		t.Errorf("context = %v, want %v", g.Context, reqCtx)
	}
	if len(g.MessageID) != 36 || g.Timestamp.Before(before) || g.Deliveries != 1 {
		t.Errorf("message id %q, timestamp %v, deliveries %d", g.MessageID, g.Timestamp, g.Deliveries)
	}
	if err := n.Error(ctx10(t), nil, "compute.instance.create.error", map[string]any{"id": 43, "name": "vm2"}); err != nil {
		t.Fatalf("Error = %v", err)
	}
	if p := await(t, typed, "typed payload"); p.ID != 43 || p.Name != "vm2" {
		t.Errorf("typed payload = %+v", p)
	}
	// No handler for WARN: the listener does not subscribe to it.
	if err := n.Warn(ctx10(t), nil, "compute.instance.slow", nil); err != nil {
		t.Fatalf("Warn = %v", err)
	}
	none(t, got, "notification")
}

// TestEveryPriority sends with each priority method to its own handler.
func TestEveryPriority(t *testing.T) {
	bus := memory.NewBus()
	got := make(chan *notify.Notification, 10)
	hs := map[notify.Priority]notify.Handler{}
	for _, p := range notify.Priorities() {
		hs[p] = recorder(got)
	}
	listen(t, newTransport(t, bus), notify.Endpoint{Handlers: hs})
	n := notify.NewNotifier(newTransport(t, bus), "p")
	send := map[notify.Priority]func(context.Context, map[string]any, string, any) error{
		notify.Audit: n.Audit, notify.Debug: n.Debug, notify.Info: n.Info, notify.Warn: n.Warn,
		notify.Error: n.Error, notify.Critical: n.Critical, notify.Sample: n.Sample,
	}
	for _, p := range notify.Priorities() {
		if err := send[p](ctx10(t), nil, "e."+string(p), nil); err != nil {
			t.Fatalf("%s = %v", p, err)
		}
		if g := await(t, got, string(p)); g.Priority != p || g.EventType != "e."+string(p) {
			t.Errorf("sent %s, got %s %s", p, g.Priority, g.EventType)
		}
	}
}

func TestPools(t *testing.T) {
	bus := memory.NewBus()
	type seen struct {
		pool string
		who  int
		id   int
	}
	ch := make(chan seen, 100)
	for _, pool := range []string{"billing", "audit"} {
		for who := range 2 {
			listen(t, newTransport(t, bus), notify.Endpoint{Handlers: map[notify.Priority]notify.Handler{
				notify.Info: notify.Typed(func(_ context.Context, _ *notify.Notification, p instance) error {
					ch <- seen{pool, who, p.ID}
					return nil
				}),
			}}, notify.Pool(pool))
		}
	}
	n := notify.NewNotifier(newTransport(t, bus), "p")
	const count = 20
	for i := range count {
		if err := n.Info(ctx10(t), nil, "e", instance{ID: i}); err != nil {
			t.Fatal(err)
		}
	}
	perPool := map[string]map[int]int{"billing": {}, "audit": {}}
	perListener := map[seen]int{}
	for range 2 * count {
		s := await(t, ch, "notification")
		perPool[s.pool][s.id]++
		perListener[seen{s.pool, s.who, 0}]++
	}
	none(t, ch, "extra notification")
	for pool, ids := range perPool {
		for i := range count {
			if ids[i] != 1 {
				t.Errorf("pool %s saw %d %d times, want once", pool, i, ids[i])
			}
		}
	}
	if len(perListener) != 4 {
		t.Errorf("listeners that got notifications: %v, want all 4", perListener)
	}
}

func TestFilters(t *testing.T) {
	bus := memory.NewBus()
	got := make(chan *notify.Notification, 10)
	listen(t, newTransport(t, bus), notify.Endpoint{
		Filter: notify.Filter{
			PublisherID: `compute\.`,
			EventType:   `compute\.instance\.(create|delete)\.end$`,
			Context:     map[string]string{"project_id": "^p1$"},
			Payload:     map[string]string{"state": "active"},
		},
		Handlers: map[notify.Priority]notify.Handler{notify.Info: recorder(got)},
	})
	tr := newTransport(t, bus)
	good := map[string]any{"project_id": "p1"}
	cases := []struct {
		name      string
		publisher string
		eventType string
		ctx       map[string]any
		payload   any
		want      bool
	}{
		{"all match", "compute.host1", "compute.instance.create.end", good, map[string]string{"state": "active"}, true},
		{"publisher anchored at start", "xcompute.host1", "compute.instance.create.end", good, map[string]string{"state": "active"}, false},
		{"event type", "compute.host1", "compute.instance.resize.end", good, map[string]string{"state": "active"}, false},
		{"context value", "compute.host1", "compute.instance.delete.end", map[string]any{"project_id": "p10"}, map[string]string{"state": "active"}, false},
		{"context missing", "compute.host1", "compute.instance.delete.end", nil, map[string]string{"state": "active"}, false},
		{"context not a string", "compute.host1", "compute.instance.delete.end", map[string]any{"project_id": 1}, map[string]string{"state": "active"}, false},
		{"payload value", "compute.host1", "compute.instance.delete.end", good, map[string]string{"state": "error"}, false},
		{"payload not an object", "compute.host1", "compute.instance.delete.end", good, []string{"active"}, false},
		{"delete matches", "compute.host1", "compute.instance.delete.end", good, map[string]string{"state": "active-ish"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := notify.NewNotifier(tr, c.publisher)
			if err := n.Info(ctx10(t), c.ctx, c.eventType, c.payload); err != nil {
				t.Fatal(err)
			}
			if c.want {
				if g := await(t, got, "notification"); g.EventType != c.eventType {
					t.Errorf("got %s", g.EventType)
				}
				return
			}
			none(t, got, "filtered notification")
		})
	}
}

func TestBadFilter(t *testing.T) {
	_, err := notify.NewListener(memory.New(), topics, []notify.Endpoint{{
		Filter:   notify.Filter{Payload: map[string]string{"state": "("}},
		Handlers: map[notify.Priority]notify.Handler{notify.Info: recorder(nil)},
	}})
	if err == nil || !strings.Contains(err.Error(), "payload field state") {
		t.Errorf("NewListener with a bad regexp = %v, want an error naming the field", err)
	}
}

func TestNewListenerErrors(t *testing.T) {
	h := map[notify.Priority]notify.Handler{notify.Info: recorder(nil)}
	tr := memory.New()
	cases := []struct {
		name    string
		targets []target.Target
		eps     []notify.Endpoint
	}{
		{"no target", nil, []notify.Endpoint{{Handlers: h}}},
		{"no topic", []target.Target{{}}, []notify.Endpoint{{Handlers: h}}},
		{"no handler", topics, []notify.Endpoint{{}}},
		{"unknown priority", topics, []notify.Endpoint{{Handlers: map[notify.Priority]notify.Handler{"loud": recorder(nil)}}}},
		{"nil handler", topics, []notify.Endpoint{{Handlers: map[notify.Priority]notify.Handler{notify.Info: nil}}}},
	}
	for _, c := range cases {
		if _, err := notify.NewListener(tr, c.targets, c.eps); err == nil {
			t.Errorf("%s: NewListener = nil error", c.name)
		}
	}
	if _, err := notify.NewBatchListener(tr, topics, nil, 0, time.Second); err == nil {
		t.Error("NewBatchListener(size 0) = nil error")
	}
	if _, err := notify.NewBatchListener(tr, topics, nil, 1, 0); err == nil {
		t.Error("NewBatchListener(timeout 0) = nil error")
	}
}

func TestRequeue(t *testing.T) {
	bus := memory.NewBus()
	deliveries := make(chan int, 10)
	listen(t, newTransport(t, bus), notify.Endpoint{Handlers: map[notify.Priority]notify.Handler{
		notify.Info: notify.HandlerFunc(func(_ context.Context, n *notify.Notification) error {
			deliveries <- n.Deliveries
			if n.Deliveries == 1 {
				return notify.ErrRequeue
			}
			return nil
		}),
	}})
	if err := notify.NewNotifier(newTransport(t, bus), "p").Info(ctx10(t), nil, "e", nil); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 2; want++ {
		if got := await(t, deliveries, "delivery"); got != want {
			t.Errorf("delivery %d: Deliveries = %d", want, got)
		}
	}
	none(t, deliveries, "delivery after the handler succeeded")
}

// TestFailuresAreBounded: a handler that always fails or panics sees a
// notification MaxRequeues+1 times, and the listener goes on.
func TestFailuresAreBounded(t *testing.T) {
	for _, mode := range []string{"error", "panic"} {
		t.Run(mode, func(t *testing.T) {
			bus := memory.NewBus()
			calls := make(chan string, 20)
			listen(t, newTransport(t, bus), notify.Endpoint{Handlers: map[notify.Priority]notify.Handler{
				notify.Info: notify.HandlerFunc(func(_ context.Context, n *notify.Notification) error {
					calls <- n.EventType
					if n.EventType == "bad" {
						if mode == "panic" {
							panic("handler bug")
						}
						return errors.New("cannot handle")
					}
					return nil
				}),
			}}, notify.MaxRequeues(2))
			n := notify.NewNotifier(newTransport(t, bus), "p")
			if err := n.Info(ctx10(t), nil, "bad", nil); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if got := await(t, calls, "call"); got != "bad" {
					t.Fatalf("call for %s, want bad", got)
				}
			}
			if err := n.Info(ctx10(t), nil, "good", nil); err != nil {
				t.Fatal(err)
			}
			if got := await(t, calls, "call"); got != "good" {
				t.Errorf("after 3 deliveries of bad: call for %s, want good", got)
			}
			none(t, calls, "call")
		})
	}
}

func TestNeverRequeue(t *testing.T) {
	bus := memory.NewBus()
	calls := make(chan int, 5)
	listen(t, newTransport(t, bus), notify.Endpoint{Handlers: map[notify.Priority]notify.Handler{
		notify.Info: notify.HandlerFunc(func(_ context.Context, n *notify.Notification) error {
			calls <- n.Deliveries
			return notify.ErrRequeue
		}),
	}}, notify.MaxRequeues(-1))
	if err := notify.NewNotifier(newTransport(t, bus), "p").Info(ctx10(t), nil, "e", nil); err != nil {
		t.Fatal(err)
	}
	await(t, calls, "call")
	none(t, calls, "requeued call")
}

// TestTypedDropsUndecodable: a payload that does not fit the handler's
// type is dropped, not requeued.
func TestTypedDropsUndecodable(t *testing.T) {
	bus := memory.NewBus()
	calls := make(chan instance, 5)
	listen(t, newTransport(t, bus), notify.Endpoint{Handlers: map[notify.Priority]notify.Handler{
		notify.Info: notify.Typed(func(_ context.Context, _ *notify.Notification, p instance) error {
			calls <- p
			return nil
		}),
	}})
	n := notify.NewNotifier(newTransport(t, bus), "p")
	if err := n.Info(ctx10(t), nil, "e", map[string]any{"id": "not a number"}); err != nil {
		t.Fatal(err)
	}
	if err := n.Info(ctx10(t), nil, "e", instance{ID: 7}); err != nil {
		t.Fatal(err)
	}
	if p := await(t, calls, "call"); p.ID != 7 {
		t.Errorf("first call got %+v, want the decodable one", p)
	}
	none(t, calls, "call")
}

func TestBatchSizeAndTimeout(t *testing.T) {
	bus := memory.NewBus()
	batches := make(chan []int, 10)
	l, err := notify.NewBatchListener(newTransport(t, bus), topics, []notify.BatchEndpoint{{
		Handlers: map[notify.Priority]notify.BatchHandler{
			notify.Info: notify.BatchHandlerFunc(func(_ context.Context, ns []*notify.Notification) error {
				var ids []int
				for _, n := range ns {
					var p instance
					if err := n.Decode(&p); err != nil {
						return err
					}
					ids = append(ids, p.ID)
				}
				batches <- ids
				return nil
			}),
		},
	}}, 5, 300*time.Millisecond, notify.Ordered())
	if err != nil {
		t.Fatal(err)
	}
	serve(t, l)
	n := notify.NewNotifier(newTransport(t, bus), "p")
	var start time.Time // before the first notification of the partial batch
	for i := range 7 {
		if i == 5 {
			start = time.Now()
		}
		if err := n.Info(ctx10(t), nil, "e", instance{ID: i}); err != nil {
			t.Fatal(err)
		}
	}
	if b := await(t, batches, "full batch"); len(b) != 5 || b[0] != 0 || b[4] != 4 {
		t.Errorf("first batch = %v, want [0 1 2 3 4]", b)
	}
	b := await(t, batches, "partial batch")
	if len(b) != 2 || b[0] != 5 || b[1] != 6 {
		t.Errorf("second batch = %v, want [5 6]", b)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("the partial batch came %v after its first notification was sent, before its 300ms timeout", waited)
	}
}

func TestBatchRequeue(t *testing.T) {
	bus := memory.NewBus()
	sizes := make(chan []int, 10)
	l, err := notify.NewBatchListener(newTransport(t, bus), topics, []notify.BatchEndpoint{{
		Handlers: map[notify.Priority]notify.BatchHandler{
			notify.Info: notify.BatchHandlerFunc(func(_ context.Context, ns []*notify.Notification) error {
				var ds []int
				for _, n := range ns {
					ds = append(ds, n.Deliveries)
				}
				sizes <- ds
				if ns[0].Deliveries == 1 {
					return notify.ErrRequeue
				}
				return nil
			}),
		},
	}}, 2, 5*time.Second, notify.Ordered())
	if err != nil {
		t.Fatal(err)
	}
	serve(t, l)
	n := notify.NewNotifier(newTransport(t, bus), "p")
	for range 2 {
		if err := n.Info(ctx10(t), nil, "e", nil); err != nil {
			t.Fatal(err)
		}
	}
	if d := await(t, sizes, "batch"); len(d) != 2 || d[0] != 1 || d[1] != 1 {
		t.Errorf("first batch deliveries = %v, want [1 1]", d)
	}
	if d := await(t, sizes, "requeued batch"); len(d) != 2 || d[0] != 2 || d[1] != 2 {
		t.Errorf("second batch deliveries = %v, want [2 2]", d)
	}
	none(t, sizes, "batch")
}

// TestWorkers: at most Workers handlers run at once; Ordered runs them one
// at a time in order.
func TestWorkers(t *testing.T) {
	for _, c := range []struct {
		name string
		opt  notify.ListenerOption
		max  int32
	}{{"workers-3", notify.Workers(3), 3}, {"ordered", notify.Ordered(), 1}} {
		t.Run(c.name, func(t *testing.T) {
			bus := memory.NewBus()
			var running, peak atomic.Int32
			var mu sync.Mutex
			var order []int
			done := make(chan struct{}, 20)
			release := make(chan struct{})
			listen(t, newTransport(t, bus), notify.Endpoint{Handlers: map[notify.Priority]notify.Handler{
				notify.Info: notify.Typed(func(_ context.Context, _ *notify.Notification, p instance) error {
					r := running.Add(1)
					for {
						old := peak.Load()
						if r <= old || peak.CompareAndSwap(old, r) {
							break
						}
					}
					mu.Lock()
					order = append(order, p.ID)
					mu.Unlock()
					if p.ID == 0 {
						<-release // hold a worker so the others queue up
					}
					running.Add(-1)
					done <- struct{}{}
					return nil
				}),
			}}, c.opt)
			n := notify.NewNotifier(newTransport(t, bus), "p")
			for i := range 10 {
				if err := n.Info(ctx10(t), nil, "e", instance{ID: i}); err != nil {
					t.Fatal(err)
				}
			}
			if c.max > 1 {
				// The other workers finish while worker 0 is held.
				for range 10 - 1 {
					await(t, done, "handler")
				}
				close(release)
				await(t, done, "handler")
			} else {
				none(t, done, "handler while the only worker is held")
				close(release)
				for range 10 {
					await(t, done, "handler")
				}
				mu.Lock()
				for i, id := range order {
					if id != i {
						t.Errorf("ordered: handled %v, want 0..9 in order", order)
						break
					}
				}
				mu.Unlock()
			}
			if p := peak.Load(); p > c.max || (c.max > 1 && p < 2) {
				t.Errorf("peak concurrency %d, want at most %d (and parallel when allowed)", p, c.max)
			}
		})
	}
}

// TestShutdownLetsHandlersFinish: a handler running at Shutdown finishes,
// its notification is acked, and nothing is handled twice.
func TestShutdownLetsHandlersFinish(t *testing.T) {
	bus := memory.NewBus()
	started, finished := make(chan struct{}), make(chan error, 1)
	release := make(chan struct{})
	l, err := notify.NewListener(newTransport(t, bus), topics, []notify.Endpoint{{Handlers: map[notify.Priority]notify.Handler{
		notify.Info: notify.HandlerFunc(func(ctx context.Context, _ *notify.Notification) error {
			close(started)
			<-release
			finished <- ctx.Err()
			return nil
		}),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(context.Background()) }()
	if err := notify.NewNotifier(newTransport(t, bus), "p").Info(ctx10(t), nil, "e", nil); err != nil {
		t.Fatal(err)
	}
	<-started
	shut := make(chan error, 1)
	go func() { shut <- l.Shutdown(ctx10(t)) }()
	none(t, shut, "Shutdown before the handler returned")
	close(release)
	if err := await(t, finished, "handler end"); err != nil {
		t.Errorf("handler ctx = %v during a graceful shutdown, want alive", err)
	}
	if err := await(t, shut, "Shutdown"); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := await(t, served, "Serve"); !errors.Is(err, notify.ErrListenerClosed) {
		t.Errorf("Serve = %v, want ErrListenerClosed", err)
	}
	// The notification was acked: a new listener of the same queue gets
	// nothing.
	again := make(chan *notify.Notification, 1)
	listen(t, newTransport(t, bus), notify.Endpoint{Handlers: map[notify.Priority]notify.Handler{notify.Info: recorder(again)}})
	none(t, again, "redelivered notification")
	if err := l.Serve(context.Background()); !errors.Is(err, notify.ErrListenerClosed) {
		t.Errorf("Serve after Shutdown = %v", err)
	}
}

// TestCloseCancelsAndRequeues: Close cancels running handlers, and what
// they did not settle goes to the next listener.
func TestCloseCancelsAndRequeues(t *testing.T) {
	bus := memory.NewBus()
	started := make(chan struct{})
	l, err := notify.NewListener(newTransport(t, bus), topics, []notify.Endpoint{{Handlers: map[notify.Priority]notify.Handler{
		notify.Info: notify.HandlerFunc(func(ctx context.Context, _ *notify.Notification) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}),
	}}}, notify.MaxRequeues(-1))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	if err := l.Listen(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	go func() { served <- l.Serve(context.Background()) }()
	if err := notify.NewNotifier(newTransport(t, bus), "p").Info(ctx10(t), nil, "e", nil); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := l.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := await(t, served, "Serve"); !errors.Is(err, notify.ErrListenerClosed) {
		t.Errorf("Serve = %v, want ErrListenerClosed", err)
	}
	again := make(chan *notify.Notification, 1)
	listen(t, newTransport(t, bus), notify.Endpoint{Handlers: map[notify.Priority]notify.Handler{notify.Info: recorder(again)}})
	if n := await(t, again, "requeued notification"); n.Deliveries != 2 {
		t.Errorf("Deliveries = %d, want 2", n.Deliveries)
	}
}

func TestListenerCloseWithoutServe(t *testing.T) {
	l, err := notify.NewListener(memory.New(), topics, []notify.Endpoint{{Handlers: map[notify.Priority]notify.Handler{notify.Info: recorder(nil)}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	if err := l.Shutdown(ctx10(t)); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := l.Listen(ctx10(t)); !errors.Is(err, notify.ErrListenerClosed) {
		t.Errorf("Listen after Shutdown = %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}

// failingDriver fails every send.
type failingDriver struct{}

func (failingDriver) Send(context.Context, target.Target, *message.Notification) error {
	return errors.New("driver down")
}

func TestDrivers(t *testing.T) {
	bus := memory.NewBus()
	got := make(chan *notify.Notification, 10)
	listen(t, newTransport(t, bus), notify.Endpoint{Handlers: map[notify.Priority]notify.Handler{notify.Error: recorder(got)}})
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(&lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr := newTransport(t, bus)
	n := notify.NewNotifier(tr, "compute.host1", notify.Drivers(notify.MessagingV2(tr, transport.QueueLimits{}), notify.Log(log), failingDriver{}, notify.Noop()))
	err := n.Error(ctx10(t), map[string]any{"request_id": "r"}, "compute.instance.delete.error", map[string]int{"id": 1})
	if err == nil || !strings.Contains(err.Error(), "driver down") {
		t.Errorf("Error = %v, want the failing driver's error", err)
	}
	if g := await(t, got, "notification"); g.EventType != "compute.instance.delete.error" {
		t.Errorf("messagingv2 delivered %s", g.EventType)
	}
	mu.Lock()
	defer mu.Unlock()
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log record %q: %v", buf.String(), err)
	}
	if rec["level"] != "ERROR" || rec["msg"] != "oslo.messaging.notification.compute.instance.delete.error" || rec["payload"] != `{"id":1}` || rec["publisher_id"] != "compute.host1" {
		t.Errorf("log record = %v", rec)
	}

	if err := notify.NewNotifier(nil, "p", notify.Drivers()).Info(ctx10(t), nil, "e", nil); err != nil {
		t.Errorf("with no driver: Info = %v, want nil", err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// TestTopicsAndPrepare: a notifier sends to each of its topics; Prepare
// changes a copy only.
func TestTopicsAndPrepare(t *testing.T) {
	bus := memory.NewBus()
	got := make(chan *notify.Notification, 10)
	l, err := notify.NewListener(newTransport(t, bus), []target.Target{{Topic: "a"}, {Topic: "b"}},
		[]notify.Endpoint{{Handlers: map[notify.Priority]notify.Handler{notify.Info: recorder(got)}}})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, l)
	base := notify.NewNotifier(newTransport(t, bus), "base", notify.Topics("a"))
	both := base.Prepare(notify.Topics("a", "b"), notify.PublisherID("prepared"))
	if err := both.Info(ctx10(t), nil, "e", nil); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for range 2 {
		g := await(t, got, "notification")
		if g.PublisherID != "prepared" {
			t.Errorf("publisher %q, want prepared", g.PublisherID)
		}
		ids[g.MessageID] = true
	}
	if len(ids) != 1 {
		t.Errorf("message ids %v: want the same on every topic, as oslo sends them", ids)
	}
	if err := base.Info(ctx10(t), nil, "e", nil); err != nil {
		t.Fatal(err)
	}
	if g := await(t, got, "notification"); g.PublisherID != "base" {
		t.Errorf("base notifier sent as %q", g.PublisherID)
	}
	none(t, got, "notification on topic b from the base notifier")
}

// TestQueueLimits: the publisher bounds the queue nobody listens to.
func TestQueueLimits(t *testing.T) {
	bus := memory.NewBus()
	n := notify.NewNotifier(newTransport(t, bus), "p", notify.QueueLimits(3, 0))
	for i := range 10 {
		if err := n.Info(ctx10(t), nil, "e", instance{ID: i}); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan *notify.Notification, 10)
	listen(t, newTransport(t, bus), notify.Endpoint{Handlers: map[notify.Priority]notify.Handler{notify.Info: recorder(got)}}, notify.Ordered())
	for want := 7; want < 10; want++ {
		var p instance
		if err := await(t, got, "notification").Decode(&p); err != nil || p.ID != want {
			t.Errorf("kept %d (%v), want %d: the newest three", p.ID, err, want)
		}
	}
	none(t, got, "notification beyond the limit")
}

// TestNotifyFailsWithCtx: a notify the transport cannot take fails when
// its ctx ends instead of blocking.
func TestNotifyFailsWithCtx(t *testing.T) {
	bus := memory.NewBus()
	n := notify.NewNotifier(newTransport(t, bus), "p")
	for range memory.QueueCapacity {
		if err := n.Info(ctx10(t), nil, "e", nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := n.Info(ctx, nil, "e", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Info on a full queue = %v, want DeadlineExceeded", err)
	}
	short := n.Prepare(notify.Timeout(50 * time.Millisecond))
	if err := short.Info(context.Background(), nil, "e", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Info without deadline on a full queue = %v, want DeadlineExceeded after the Timeout", err)
	}
}

func TestNotifyBadInput(t *testing.T) {
	n := notify.NewNotifier(memory.New(), "p")
	if err := n.Notify(ctx10(t), "loud", nil, "e", nil); err == nil {
		t.Error("Notify with an unknown priority = nil")
	}
	if err := n.Info(ctx10(t), nil, "", nil); err == nil {
		t.Error("Info without event type = nil")
	}
	if err := n.Info(ctx10(t), nil, "e", func() {}); err == nil {
		t.Error("Info with a payload that is not JSON = nil")
	}
	if err := n.Info(ctx10(t), nil, "e", json.RawMessage("{")); err == nil {
		t.Error("Info with invalid raw JSON = nil")
	}
}

func TestParsePriority(t *testing.T) {
	for in, want := range map[string]notify.Priority{"INFO": notify.Info, "warning": notify.Warn, "Sample": notify.Sample} {
		if got, err := notify.ParsePriority(in); got != want || err != nil {
			t.Errorf("ParsePriority(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := notify.ParsePriority("loud"); err == nil {
		t.Error(`ParsePriority("loud") = nil error`)
	}
}

type traceKey struct{}

// TestInterceptors: interceptors run around the dispatch, the first
// outermost, pass their ctx to the handlers, and can fail a notification.
func TestInterceptors(t *testing.T) {
	bus := memory.NewBus()
	var mu sync.Mutex
	var trace []string
	record := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		trace = append(trace, s)
	}
	// done hears of each delivery once the outermost interceptor ends.
	done := make(chan string, 10)
	named := func(name string) notify.Interceptor {
		return func(ctx context.Context, ns []*notify.Notification, next func(context.Context) error) error {
			record(name + ">" + ns[0].EventType)
			err := next(context.WithValue(ctx, traceKey{}, name))
			record(name + "<")
			if name == "outer" {
				defer func() { done <- ns[0].EventType }() // the trace of this delivery is complete
			}
			if ns[0].EventType == "vetoed" && ns[0].Deliveries == 1 {
				return notify.ErrRequeue
			}
			return err
		}
	}
	listen(t, newTransport(t, bus), notify.Endpoint{Handlers: map[notify.Priority]notify.Handler{
		notify.Info: notify.HandlerFunc(func(ctx context.Context, n *notify.Notification) error {
			record("handler sees " + ctx.Value(traceKey{}).(string))
			return nil
		}),
	}}, notify.Intercept(named("outer")), notify.Intercept(named("inner")), notify.Ordered())
	n := notify.NewNotifier(newTransport(t, bus), "p")
	if err := n.Info(ctx10(t), nil, "e", nil); err != nil {
		t.Fatal(err)
	}
	await(t, done, "handler")
	if err := n.Info(ctx10(t), nil, "vetoed", nil); err != nil {
		t.Fatal(err)
	}
	await(t, done, "vetoed handler")
	await(t, done, "vetoed handler again")
	mu.Lock()
	defer mu.Unlock()
	want := []string{"outer>e", "inner>e", "handler sees inner", "inner<", "outer<"}
	if len(trace) < len(want) || !slices.Equal(trace[:len(want)], want) {
		t.Errorf("trace = %v, want it to start %v", trace, want)
	}
	if got := len(trace); got != 3*len(want) {
		t.Errorf("trace has %d entries, want %d: e once, vetoed twice", got, 3*len(want))
	}
}

// TestBatchInterceptor: a batch listener's interceptor sees each
// priority's part of the batch.
func TestBatchInterceptor(t *testing.T) {
	bus := memory.NewBus()
	sizes := make(chan int, 10)
	handled := make(chan struct{}, 10)
	l, err := notify.NewBatchListener(newTransport(t, bus), topics, []notify.BatchEndpoint{{
		Handlers: map[notify.Priority]notify.BatchHandler{
			notify.Info: notify.BatchHandlerFunc(func(context.Context, []*notify.Notification) error {
				handled <- struct{}{}
				return nil
			}),
		},
	}}, 3, 5*time.Second, notify.Intercept(func(ctx context.Context, ns []*notify.Notification, next func(context.Context) error) error {
		sizes <- len(ns)
		return next(ctx)
	}))
	if err != nil {
		t.Fatal(err)
	}
	serve(t, l)
	n := notify.NewNotifier(newTransport(t, bus), "p")
	for range 3 {
		if err := n.Info(ctx10(t), nil, "e", nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := await(t, sizes, "interceptor call"); got != 3 {
		t.Errorf("interceptor saw %d notifications, want the batch of 3", got)
	}
	await(t, handled, "batch handler")
}

// TestServeCtxEndIsGraceful: when Serve's ctx ends, a running handler
// finishes with a live ctx and its notification is acked; one that
// outlives the grace period has its ctx cancelled, and when it then fails
// its notification goes back to the broker, even with MaxRequeues(-1).
// Serve returns ErrListenerClosed.
func TestServeCtxEndIsGraceful(t *testing.T) {
	for _, c := range []struct {
		name      string
		grace     time.Duration
		release   bool // the handler returns by itself
		fail      bool // the handler returns its ctx's error
		wantAlive bool
	}{
		{"finishes", time.Minute, true, false, true},
		{"outlives-grace", 100 * time.Millisecond, false, false, false},
		{"fails-after-grace", 100 * time.Millisecond, false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			bus := memory.NewBus()
			started, ended := make(chan struct{}), make(chan error, 1)
			release := make(chan struct{})
			l, err := notify.NewListener(newTransport(t, bus), topics, []notify.Endpoint{{Handlers: map[notify.Priority]notify.Handler{
				notify.Info: notify.HandlerFunc(func(ctx context.Context, _ *notify.Notification) error {
					close(started)
					select {
					case <-release:
					case <-ctx.Done():
					}
					ended <- context.Cause(ctx)
					if c.fail {
						return ctx.Err()
					}
					return nil
				}),
			}}}, notify.GracePeriod(c.grace), notify.MaxRequeues(-1))
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Listen(ctx10(t)); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- l.Serve(ctx) }()
			if err := notify.NewNotifier(newTransport(t, bus), "p").Info(ctx10(t), nil, "e", nil); err != nil {
				t.Fatal(err)
			}
			<-started
			cancel()
			if c.release {
				none(t, served, "Serve end while a handler runs")
				close(release)
			}
			cause := await(t, ended, "handler end")
			if alive := cause == nil; alive != c.wantAlive {
				t.Errorf("handler ctx cause = %v, want alive %v", cause, c.wantAlive)
			}
			if err := await(t, served, "Serve"); !errors.Is(err, notify.ErrListenerClosed) {
				t.Errorf("Serve = %v, want ErrListenerClosed", err)
			}
			again := make(chan *notify.Notification, 1)
			listen(t, newTransport(t, bus), notify.Endpoint{Handlers: map[notify.Priority]notify.Handler{notify.Info: recorder(again)}})
			if c.fail {
				if n := await(t, again, "the notification again"); n.Deliveries != 2 {
					t.Errorf("Deliveries = %d, want 2", n.Deliveries)
				}
			} else {
				none(t, again, "redelivered notification")
			}
		})
	}
	if _, err := notify.NewListener(memory.New(), topics, []notify.Endpoint{{Handlers: map[notify.Priority]notify.Handler{notify.Info: recorder(nil)}}}, notify.GracePeriod(-time.Second)); err == nil {
		t.Error("NewListener with a negative grace period = nil error")
	}
}

// TestSerializer: the request context a notifier's ctx carries reaches
// the handler's ctx typed, with the explicit reqCtx laid over it, and
// payloads pass through the serializer both ways.
func TestSerializer(t *testing.T) {
	bus := memory.NewBus()
	type seen struct {
		rc      *serializer.RequestContext
		raw     map[string]any
		payload string
	}
	got := make(chan seen, 1)
	listen(t, newTransport(t, bus), notify.Endpoint{Handlers: map[notify.Priority]notify.Handler{
		notify.Info: notify.HandlerFunc(func(ctx context.Context, n *notify.Notification) error {
			got <- seen{serializer.RequestContextFrom(ctx), n.Context, string(n.Payload)}
			return nil
		}),
	}}, notify.Deserializer(upper{}))
	n := notify.NewNotifier(newTransport(t, bus), "p", notify.Serializer(upper{}))
	ctx := serializer.WithRequestContext(ctx10(t), &serializer.RequestContext{UserID: "u1", ProjectID: "p1", RequestID: "req-1"})
	if err := n.Info(ctx, map[string]any{"request_id": "req-2"}, "e", "abc"); err != nil {
		t.Fatal(err)
	}
	s := await(t, got, "notification")
	if s.rc == nil || s.rc.UserID != "u1" || s.rc.ProjectID != "p1" || s.rc.RequestID != "req-2" {
		t.Errorf("handler's RequestContext = %+v, want user u1, project p1, request req-2 (reqCtx over ctx's)", s.rc)
	}
	if s.raw["user"] != "u1" || s.raw["request_id"] != "req-2" {
		t.Errorf("Notification.Context = %v", s.raw)
	}
	// upper upper-cases strings on the way out and wraps them on the way in.
	if s.payload != `["ABC"]` {
		t.Errorf("payload = %s, want [\"ABC\"]", s.payload)
	}
}

// upper is a serializer that upper-cases string payloads going out and
// wraps payloads in an array coming in.
type upper struct{ serializer.JSON }

func (upper) SerializeEntity(ctx context.Context, v any) (json.RawMessage, error) {
	if s, ok := v.(string); ok {
		v = strings.ToUpper(s)
	}
	return serializer.JSON{}.SerializeEntity(ctx, v)
}

func (upper) DeserializeEntity(_ context.Context, data json.RawMessage) (json.RawMessage, error) {
	return json.RawMessage("[" + string(data) + "]"), nil
}
