package otelwarren_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/otelwarren"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait for an event in these tests.
const waitLimit = 10 * time.Second

// recorder keeps the spans that ended and tells when one does.
type recorder struct {
	ended chan sdktrace.ReadOnlySpan
}

func newRecorder() *recorder { return &recorder{ended: make(chan sdktrace.ReadOnlySpan, 100)} }

func (r *recorder) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (r *recorder) OnEnd(s sdktrace.ReadOnlySpan)                   { r.ended <- s }
func (r *recorder) Shutdown(context.Context) error                  { return nil }
func (r *recorder) ForceFlush(context.Context) error                { return nil }

// spans waits for n spans to end and returns them by name.
func (r *recorder) spans(t *testing.T, n int) map[string]sdktrace.ReadOnlySpan {
	t.Helper()
	byName := make(map[string]sdktrace.ReadOnlySpan)
	timeout := time.After(waitLimit)
	for range n {
		select {
		case s := <-r.ended:
			if _, dup := byName[s.Name()]; dup {
				t.Fatalf("two spans named %q", s.Name())
			}
			byName[s.Name()] = s
		case <-timeout:
			t.Fatalf("%d spans ended within %v, want %d", len(byName), waitLimit, n)
		}
	}
	select {
	case s := <-r.ended:
		t.Fatalf("an unexpected span %q ended", s.Name())
	default:
	}
	return byName
}

// serve serves eps as server name of topic on tr and returns the server,
// which closes when the test ends.
func serve(t testing.TB, tr transport.Transport, topic, name string, eps []*endpoints.Endpoint, opts ...rpcserver.Option) *rpcserver.Server {
	t.Helper()
	d, err := dispatcher.New(eps)
	if err != nil {
		t.Fatalf("dispatcher.New: %v", err)
	}
	srv := rpcserver.New(tr, target.Target{Topic: topic, Server: name}, d, opts...)
	if err := srv.Listen(t.Context()); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, rpcserver.ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
	return srv
}

func newTransport(t testing.TB, bus *memory.Bus) transport.Transport {
	tr := memory.New(memory.OnBus(bus))
	t.Cleanup(func() { tr.Close() })
	return tr
}

type wordArgs struct {
	Word string `json:"word"`
}

// TestTraceAcrossTwoHops: a client calls "front", whose handler calls
// "back" with its own ctx; the four spans make one trace, each the child
// of the one before, and baggage crosses both hops.
func TestTraceAcrossTwoHops(t *testing.T) {
	bus := memory.NewBus()
	rec := newRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tracing := otelwarren.TracerProvider(tp)

	back := endpoints.New(endpoints.Namespace("words"), endpoints.Version("1.1"))
	backBaggage := make(chan string, 1)
	endpoints.Register(back, "shout", func(ctx context.Context, a wordArgs) (string, error) {
		backBaggage <- baggage.FromContext(ctx).Member("tenant").Value()
		return a.Word + "!", nil
	})
	serve(t, newTransport(t, bus), "back", "b1", []*endpoints.Endpoint{back},
		rpcserver.Interceptors(otelwarren.ServerInterceptor(tracing), rpcserver.Recover()))

	backClient := rpcclient.New(newTransport(t, bus), target.Target{Topic: "back", Namespace: "words", Version: "1.1"},
		rpcclient.Interceptors(otelwarren.ClientInterceptor(tracing)))
	front := endpoints.New()
	endpoints.Register(front, "relay", func(ctx context.Context, a wordArgs) (string, error) {
		return rpcclient.Call[string](ctx, backClient, "shout", a)
	})
	serve(t, newTransport(t, bus), "front", "f1", []*endpoints.Endpoint{front},
		rpcserver.Interceptors(otelwarren.ServerInterceptor(tracing), rpcserver.Recover()))

	client := rpcclient.New(newTransport(t, bus), target.Target{Topic: "front"},
		rpcclient.Interceptors(otelwarren.ClientInterceptor(tracing)))
	member, _ := baggage.NewMember("tenant", "t-42")
	bag, _ := baggage.New(member)
	ctx := baggage.ContextWithBaggage(t.Context(), bag)
	got, err := rpcclient.Call[string](ctx, client, "relay", wordArgs{Word: "hi"})
	if err != nil || got != "hi!" {
		t.Fatalf("relay(hi) = %q, %v; want \"hi!\", nil", got, err)
	}
	if b := <-backBaggage; b != "t-42" {
		t.Errorf("baggage tenant in the second hop = %q, want t-42", b)
	}

	spans := rec.spans(t, 4)
	chain := []struct {
		name string
		kind trace.SpanKind
	}{
		{"call front", trace.SpanKindClient},
		{"process front", trace.SpanKindServer},
		{"call back", trace.SpanKindClient},
		{"process back", trace.SpanKindServer},
	}
	var parent trace.SpanContext
	for i, want := range chain {
		s := spans[want.name]
		if s == nil {
			t.Fatalf("no span %q among %v", want.name, names(spans))
		}
		if s.SpanKind() != want.kind {
			t.Errorf("%s: kind %v, want %v", want.name, s.SpanKind(), want.kind)
		}
		if i == 0 {
			if s.Parent().IsValid() {
				t.Errorf("%s: parent %v, want none", want.name, s.Parent().SpanID())
			}
		} else {
			if s.SpanContext().TraceID() != parent.TraceID() {
				t.Errorf("%s: trace %v, want %v", want.name, s.SpanContext().TraceID(), parent.TraceID())
			}
			if s.Parent().SpanID() != parent.SpanID() {
				t.Errorf("%s: parent %v, want %v (%s)", want.name, s.Parent().SpanID(), parent.SpanID(), chain[i-1].name)
			}
		}
		if s.Status().Code != codes.Unset {
			t.Errorf("%s: status %v, want unset", want.name, s.Status())
		}
		parent = s.SpanContext()
	}

	// The attributes of the second hop, on both sides.
	for _, name := range []string{"call back", "process back"} {
		attrs := attrMap(spans[name].Attributes())
		op := "call"
		if name == "process back" {
			op = "process"
		}
		for k, v := range map[string]string{
			"messaging.system": "rabbitmq", "messaging.destination.name": "back",
			"messaging.operation.name": op, "rpc.system": "oslo_messaging", "rpc.method": "shout",
			"warren.rpc.namespace": "words", "warren.rpc.version": "1.1",
		} {
			if attrs[k] != v {
				t.Errorf("%s: %s = %q, want %q", name, k, attrs[k], v)
			}
		}
	}
	sent, received := attrMap(spans["call back"].Attributes())["messaging.message.id"], attrMap(spans["process back"].Attributes())["messaging.message.id"]
	if len(sent) != 32 || sent != received {
		t.Errorf("messaging.message.id sent %q, received %q; want the same 32 hex digits", sent, received)
	}
}

// TestServerStartsNewTrace: a request without trace context, as a Python
// peer sends, gets a root span, even when the server's own ctx holds one.
func TestServerStartsNewTrace(t *testing.T) {
	bus := memory.NewBus()
	rec := newRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ep := endpoints.New()
	endpoints.Register(ep, "echo", func(_ context.Context, a wordArgs) (string, error) { return a.Word, nil })
	d, err := dispatcher.New([]*endpoints.Endpoint{ep})
	if err != nil {
		t.Fatal(err)
	}
	srv := rpcserver.New(newTransport(t, bus), target.Target{Topic: "plain", Server: "p1"}, d,
		rpcserver.Interceptors(otelwarren.ServerInterceptor(otelwarren.TracerProvider(tp))))
	if err := srv.Listen(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Serve's ctx holds a span of the program's own.
	serveCtx, outer := tp.Tracer("test").Start(context.Background(), "main")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx) }()
	defer func() {
		srv.Close()
		<-served
	}()

	// A client without the interceptor sends no headers.
	client := rpcclient.New(newTransport(t, bus), target.Target{Topic: "plain"})
	if _, err := rpcclient.Call[string](t.Context(), client, "echo", wordArgs{Word: "x"}); err != nil {
		t.Fatal(err)
	}
	s := rec.spans(t, 1)["process plain"]
	if s == nil {
		t.Fatal("no span process plain")
	}
	if s.Parent().IsValid() {
		t.Errorf("process plain: parent %v, want none", s.Parent().SpanID())
	}
	if s.SpanContext().TraceID() == outer.SpanContext().TraceID() {
		t.Errorf("process plain is in the trace of Serve's ctx, want a new trace")
	}
	outer.End()
	<-rec.ended
}

// TestCastSpans: a cast is a producer span and its handling a consumer
// span, its child.
func TestCastSpans(t *testing.T) {
	bus := memory.NewBus()
	rec := newRecorder()
	tracing := otelwarren.TracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	ep := endpoints.New()
	endpoints.Register(ep, "note", func(context.Context, wordArgs) (any, error) {
		return nil, rpcerr.NewError("ValueError", "bad note")
	})
	serve(t, newTransport(t, bus), "notes", "n1", []*endpoints.Endpoint{ep},
		rpcserver.Interceptors(otelwarren.ServerInterceptor(tracing), rpcserver.Recover()))
	client := rpcclient.New(newTransport(t, bus), target.Target{Topic: "notes"},
		rpcclient.Interceptors(otelwarren.ClientInterceptor(tracing)))
	if err := client.Cast(t.Context(), "note", wordArgs{Word: "x"}); err != nil {
		t.Fatal(err)
	}
	spans := rec.spans(t, 2)
	sent, handled := spans["cast notes"], spans["process notes"]
	if sent == nil || handled == nil {
		t.Fatalf("spans %v, want cast notes and process notes", names(spans))
	}
	if sent.SpanKind() != trace.SpanKindProducer || handled.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("kinds %v, %v; want producer, consumer", sent.SpanKind(), handled.SpanKind())
	}
	if handled.Parent().SpanID() != sent.SpanContext().SpanID() {
		t.Errorf("process notes: parent %v, want %v", handled.Parent().SpanID(), sent.SpanContext().SpanID())
	}
	if handled.Status().Code != codes.Error || attrMap(handled.Attributes())["error.type"] != "ValueError" {
		t.Errorf("process notes: status %v, error.type %q; want Error, ValueError",
			handled.Status(), attrMap(handled.Attributes())["error.type"])
	}
}

// TestMetrics: after a known sequence of calls, the counters hold exactly
// it.
func TestMetrics(t *testing.T) {
	const ok, remote, timeouts, noRoute = 5, 3, 2, 1 // and one call on a closed transport
	bus := memory.NewBus()
	reader := sdkmetric.NewManualReader()
	metrics := otelwarren.MeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))

	ep := endpoints.New()
	endpoints.Register(ep, "ok", func(context.Context, struct{}) (int, error) { return 1, nil })
	endpoints.Register(ep, "fail", func(context.Context, struct{}) (int, error) {
		return 0, rpcerr.NewError("ValueError", "no")
	})
	endpoints.Register(ep, "hang", func(ctx context.Context, _ struct{}) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	srv := serve(t, newTransport(t, bus), "metered", "m1", []*endpoints.Endpoint{ep},
		rpcserver.Workers(4), rpcserver.Interceptors(otelwarren.ServerInterceptor(metrics), rpcserver.Recover()))
	stop, err := otelwarren.ObserveServer(srv, metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	client := rpcclient.New(newTransport(t, bus), target.Target{Topic: "metered"},
		rpcclient.Interceptors(otelwarren.ClientInterceptor(metrics)))
	for range ok {
		if err := client.Call(t.Context(), "ok", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	for range remote {
		var re *rpcerr.RemoteError
		if err := client.Call(t.Context(), "fail", nil, nil); !errors.As(err, &re) || re.Class != "ValueError" {
			t.Fatalf("fail = %v, want a ValueError", err)
		}
	}
	for range timeouts {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		err := client.Call(ctx, "hang", nil, nil)
		cancel()
		if !errors.Is(err, transport.ErrTimeout) {
			t.Fatalf("hang = %v, want a timeout", err)
		}
	}
	lost := rpcclient.New(newTransport(t, bus), target.Target{Topic: "nobody"},
		rpcclient.Interceptors(otelwarren.ClientInterceptor(metrics)))
	for range noRoute {
		if err := lost.Call(t.Context(), "ok", nil, nil); !errors.Is(err, transport.ErrNoRoute) {
			t.Fatalf("call to nobody = %v, want ErrNoRoute", err)
		}
	}

	closedTr := memory.New(memory.OnBus(bus))
	closedTr.Close()
	closed := rpcclient.New(closedTr, target.Target{Topic: "metered"},
		rpcclient.Interceptors(otelwarren.ClientInterceptor(metrics)))
	if err := closed.Call(t.Context(), "ok", nil, nil); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("call on a closed transport = %v, want ErrClosed", err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	requests := sums(t, rm, "warren.client.requests")
	for key, want := range map[string]int64{
		"ok ok":                        ok,
		"fail remote_error ValueError": remote,
		"hang timeout timeout":         timeouts,
		"ok no_route no_route":         noRoute,
		"ok connection connection":     1,
	} {
		if got := requests[key]; got != want {
			t.Errorf("warren.client.requests{%s} = %d, want %d (all: %v)", key, got, want, requests)
		}
	}
	if n := histogramCount(t, rm, "warren.client.duration"); n != ok+remote+timeouts+noRoute+1 {
		t.Errorf("warren.client.duration has %d values, want %d", n, ok+remote+timeouts+noRoute+1)
	}
	if inFlight := sums(t, rm, "warren.client.calls.in_flight"); inFlight["ok"] != 0 || inFlight["hang"] != 0 {
		t.Errorf("warren.client.calls.in_flight = %v, want 0 everywhere", inFlight)
	}
	served := sums(t, rm, "warren.server.requests")
	for key, want := range map[string]int64{"ok ok": ok, "fail error ValueError": remote} {
		if got := served[key]; got != want {
			t.Errorf("warren.server.requests{%s} = %d, want %d (all: %v)", key, got, want, served)
		}
	}
	if g := gauge(t, rm, "warren.server.workers"); g != 4 {
		t.Errorf("warren.server.workers = %d, want 4", g)
	}
}

// TestInFlight: a call waiting for its reply counts as in flight.
func TestInFlight(t *testing.T) {
	bus := memory.NewBus()
	reader := sdkmetric.NewManualReader()
	metrics := otelwarren.MeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	started, release := make(chan struct{}), make(chan struct{})
	ep := endpoints.New()
	endpoints.Register(ep, "wait", func(context.Context, struct{}) (int, error) {
		close(started)
		<-release
		return 1, nil
	})
	srv := serve(t, newTransport(t, bus), "waits", "w1", []*endpoints.Endpoint{ep},
		rpcserver.Interceptors(otelwarren.ServerInterceptor(metrics), rpcserver.Recover()))
	stop, err := otelwarren.ObserveServer(srv, metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	client := rpcclient.New(newTransport(t, bus), target.Target{Topic: "waits"},
		rpcclient.Interceptors(otelwarren.ClientInterceptor(metrics)))
	done := make(chan error, 1)
	go func() { done <- client.Call(t.Context(), "wait", nil, nil) }()
	<-started
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	if got := sums(t, rm, "warren.client.calls.in_flight")["wait"]; got != 1 {
		t.Errorf("in flight while the handler runs = %d, want 1", got)
	}
	if g := gauge(t, rm, "warren.server.workers.busy"); g != 1 {
		t.Errorf("warren.server.workers.busy while the handler runs = %d, want 1", g)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// find returns the metric called name.
func find(t *testing.T, rm metricdata.ResourceMetrics, name string) metricdata.Metrics {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return metricdata.Metrics{}
}

// sums returns the data points of an int64 sum by "method outcome
// error.type" (the parts present).
func sums(t *testing.T, rm metricdata.ResourceMetrics, name string) map[string]int64 {
	t.Helper()
	sum, ok := find(t, rm, name).Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is %T, want an int64 sum", name, find(t, rm, name).Data)
	}
	out := make(map[string]int64)
	for _, dp := range sum.DataPoints {
		out[pointKey(dp.Attributes)] += dp.Value
	}
	return out
}

func pointKey(set attribute.Set) string {
	key := ""
	for _, k := range []attribute.Key{"rpc.method", "warren.outcome", "error.type"} {
		if v, ok := set.Value(k); ok {
			key = fmt.Sprint(key, " ", v.AsString())
		}
	}
	return key[min(1, len(key)):]
}

func histogramCount(t *testing.T, rm metricdata.ResourceMetrics, name string) uint64 {
	t.Helper()
	h, ok := find(t, rm, name).Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is %T, want a float64 histogram", name, find(t, rm, name).Data)
	}
	var n uint64
	for _, dp := range h.DataPoints {
		n += dp.Count
	}
	return n
}

func gauge(t *testing.T, rm metricdata.ResourceMetrics, name string) int64 {
	t.Helper()
	g, ok := find(t, rm, name).Data.(metricdata.Gauge[int64])
	if !ok || len(g.DataPoints) != 1 {
		t.Fatalf("%s is %#v, want an int64 gauge with one point", name, find(t, rm, name).Data)
	}
	return g.DataPoints[0].Value
}

func attrMap(kvs []attribute.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

func names(spans map[string]sdktrace.ReadOnlySpan) []string {
	var ns []string
	for n := range spans {
		ns = append(ns, n)
	}
	return ns
}

// TestHeadersKept: the client interceptor keeps the request's own headers
// and replaces a stale trace context with its span's.
func TestHeadersKept(t *testing.T) {
	bus := memory.NewBus()
	rec := newRecorder()
	tracing := otelwarren.TracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	ep := endpoints.New()
	seen := make(chan map[string]string, 1)
	endpoints.Register(ep, "echo", func(_ context.Context, a wordArgs) (string, error) { return a.Word, nil })
	serve(t, newTransport(t, bus), "headers", "h1", []*endpoints.Endpoint{ep}, rpcserver.Interceptors(
		func(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (any, error) {
			seen <- req.Headers
			return next(ctx, req)
		},
		otelwarren.ServerInterceptor(tracing), rpcserver.Recover()))
	stale := "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"
	app := func(ctx context.Context, inv *rpcclient.Invocation, next rpcclient.Invoker) (*message.Reply, error) {
		inv.Request.Headers = map[string]string{"app": "1", "traceparent": stale}
		return next(ctx, inv)
	}
	client := rpcclient.New(newTransport(t, bus), target.Target{Topic: "headers"},
		rpcclient.Interceptors(app, otelwarren.ClientInterceptor(tracing)))
	if _, err := rpcclient.Call[string](t.Context(), client, "echo", wordArgs{Word: "x"}); err != nil {
		t.Fatal(err)
	}
	h := <-seen
	spans := rec.spans(t, 2)
	if h["app"] != "1" || h["traceparent"] == stale {
		t.Errorf("server got headers %v, want app=1 and a fresh traceparent", h)
	}
	if got, want := spans["process headers"].Parent().SpanID(), spans["call headers"].SpanContext().SpanID(); got != want {
		t.Errorf("process headers: parent %v, want %v", got, want)
	}
}
