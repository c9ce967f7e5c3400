package otelwarren

import (
	"context"
	"encoding/hex"
	"errors"
	"maps"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// scope is the instrumentation scope of the tracers and meters.
const scope = "github.com/warrenrpc/warren/otelwarren"

// Attribute keys. The messaging and rpc ones are OpenTelemetry's semantic
// conventions; the warren ones are this package's own.
const (
	keySystem     = attribute.Key("messaging.system")
	keyDest       = attribute.Key("messaging.destination.name")
	keyOpName     = attribute.Key("messaging.operation.name")
	keyOpType     = attribute.Key("messaging.operation.type")
	keyMessageID  = attribute.Key("messaging.message.id")
	keyRPCSystem  = attribute.Key("rpc.system")
	keyMethod     = attribute.Key("rpc.method")
	keyErrorType  = attribute.Key("error.type")
	keyNamespace  = attribute.Key("warren.rpc.namespace")
	keyVersion    = attribute.Key("warren.rpc.version")
	keyServer     = attribute.Key("warren.target.server")
	keyOutcome    = attribute.Key("warren.outcome")
	rpcSystemOslo = "oslo_messaging"
)

// Outcomes of a request, the values of warren.outcome.
const (
	outcomeOK          = "ok"
	outcomeRemoteError = "remote_error"
	outcomeTimeout     = "timeout"
	outcomeNoRoute     = "no_route"
	outcomeConnection  = "connection"
	outcomeError       = "error"
)

// Option changes how the interceptors and ObserveServer trace and measure.
type Option func(*config)

type config struct {
	tp     trace.TracerProvider
	mp     metric.MeterProvider
	prop   propagation.TextMapPropagator
	system string
}

// TracerProvider sets where spans go. Nil, the default, is the global
// provider (otel.GetTracerProvider) at the time the interceptor is made.
func TracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// MeterProvider sets where metrics go. Nil, the default, is the global
// provider (otel.GetMeterProvider) at the time the interceptor is made.
func MeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// Propagator sets how trace context travels in request headers. Nil, the
// default, is W3C trace context and baggage (traceparent, tracestate,
// baggage), whatever the global propagator is.
func Propagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.prop = p }
}

// System sets messaging.system on spans. Empty, the default, is
// "rabbitmq", oslo.messaging's broker.
func System(name string) Option {
	return func(c *config) { c.system = name }
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.prop == nil {
		c.prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	if c.system == "" {
		c.system = "rabbitmq"
	}
	return c
}

// instruments are the metrics of one side, client or server.
type instruments struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
	inFlight metric.Int64UpDownCounter // client only
}

// durationBuckets suits RPC: from a millisecond on one host to a minute.
var durationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// newInstruments makes the instruments of side ("client" or "server"),
// whose requests are what verb says ("sent", "handled"), timed over what
// timed says. An instrument the provider cannot make is reported to
// otel.Handle and replaced by one that records nothing, as OpenTelemetry's
// API does.
func newInstruments(m metric.Meter, side, verb, timed string) instruments {
	var ins instruments
	var err error
	ins.requests, err = m.Int64Counter("warren."+side+".requests",
		metric.WithDescription("RPC requests "+verb+", by outcome."), metric.WithUnit("{request}"))
	handle(err)
	ins.duration, err = m.Float64Histogram("warren."+side+".duration",
		metric.WithDescription("How long RPC requests took, "+timed+"."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...))
	handle(err)
	if side == "client" {
		ins.inFlight, err = m.Int64UpDownCounter("warren.client.calls.in_flight",
			metric.WithDescription("Calls waiting for their reply."), metric.WithUnit("{call}"))
		handle(err)
	}
	return ins
}

func handle(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

// ClientInterceptor returns an rpcclient.Interceptor that traces and
// measures every call and cast of a client, and injects the trace context
// into the request's headers for the server to continue. It sets the
// request's UniqueID, when empty and the span is recorded, so that the span
// can name the message.
func ClientInterceptor(opts ...Option) rpcclient.Interceptor {
	c := newConfig(opts)
	tracer := c.tp.Tracer(scope)
	ins := newInstruments(c.mp.Meter(scope), "client", "sent", "from sending to the reply (for a cast, to the hand-over)")
	system := keySystem.String(c.system)
	return func(ctx context.Context, inv *rpcclient.Invocation, next rpcclient.Invoker) (*message.Reply, error) {
		op, kind := "call", trace.SpanKindClient
		if inv.Cast {
			op, kind = "cast", trace.SpanKindProducer
		}
		req := inv.Request
		metricAttrs := []attribute.KeyValue{keyOpName.String(op), keyMethod.String(req.Method), keyDest.String(inv.Target.Topic)}
		ctx, span := tracer.Start(ctx, op+" "+inv.Target.Topic, trace.WithSpanKind(kind))
		defer span.End()
		if span.IsRecording() {
			if req.UniqueID == "" {
				req.UniqueID = newID()
			}
			span.SetAttributes(spanAttrs(system, op, "send", req.UniqueID, req.Method, inv.Target, req.Namespace, req.Version)...)
		}

		carrier := propagation.MapCarrier{}
		c.prop.Inject(ctx, carrier)
		if len(carrier) > 0 {
			// A new map, since the old one may be the client's; the trace
			// context of this span replaces any the request had.
			headers := maps.Clone(req.Headers)
			if headers == nil {
				headers = make(map[string]string, len(carrier))
			}
			maps.Copy(headers, carrier)
			req.Headers = headers
		}

		if !inv.Cast {
			set := metric.WithAttributeSet(attribute.NewSet(metricAttrs...))
			ins.inFlight.Add(ctx, 1, set)
			defer ins.inFlight.Add(ctx, -1, set)
		}
		start := time.Now()
		rep, err := next(ctx, inv)
		elapsed := time.Since(start).Seconds()

		outcome, errType := clientOutcome(rep, err)
		metricAttrs = append(metricAttrs, keyOutcome.String(outcome))
		if errType != "" {
			metricAttrs = append(metricAttrs, keyErrorType.String(errType))
			span.SetAttributes(keyErrorType.String(errType))
			msg := errType
			if err != nil {
				msg = err.Error()
			} else if rep.Failure.Message != "" {
				msg = rep.Failure.Message
			}
			span.SetStatus(codes.Error, msg)
		}
		set := metric.WithAttributeSet(attribute.NewSet(metricAttrs...))
		ins.requests.Add(ctx, 1, set)
		ins.duration.Record(ctx, elapsed, set)
		return rep, err
	}
}

// clientOutcome classifies what a call or cast came to, and names the
// error type: the remote class, or the condition.
func clientOutcome(rep *message.Reply, err error) (outcome, errType string) {
	switch {
	case err == nil && rep != nil && rep.Failure != nil:
		if rep.Failure.Class == "" {
			return outcomeRemoteError, otherError
		}
		return outcomeRemoteError, rep.Failure.Class
	case err == nil:
		return outcomeOK, ""
	case errors.Is(err, transport.ErrNoRoute):
		return outcomeNoRoute, outcomeNoRoute
	case errors.Is(err, transport.ErrConnectionLost), errors.Is(err, transport.ErrClosed),
		errors.Is(err, transport.ErrNotSent), errors.Is(err, transport.ErrOutcomeUnknown),
		errors.Is(err, transport.ErrBlocked):
		// Before timeouts: a request that waited out its deadline for a
		// connection failed for want of one.
		return outcomeConnection, outcomeConnection
	case errors.Is(err, transport.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return outcomeTimeout, outcomeTimeout
	}
	return outcomeError, otherError
}

// otherError is error.type for an error of no known kind, as OpenTelemetry's
// conventions name it.
const otherError = "_OTHER"

// ServerInterceptor returns a dispatcher.Interceptor that traces and
// measures every request a server handles, as the child of the caller's
// span when the request's headers carry trace context, and starting a new
// trace otherwise. Give it to rpcserver.Interceptors first, so that its
// span covers the others (and a panic Recover turned into an error).
func ServerInterceptor(opts ...Option) dispatcher.Interceptor {
	c := newConfig(opts)
	tracer := c.tp.Tracer(scope)
	ins := newInstruments(c.mp.Meter(scope), "server", "handled", "in the interceptors and the handler")
	system := keySystem.String(c.system)
	return func(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (any, error) {
		op, kind := "call", trace.SpanKindServer
		if req.Cast {
			op, kind = "cast", trace.SpanKindConsumer
		}
		ctx = c.prop.Extract(ctx, propagation.MapCarrier(req.Headers))
		startOpts := []trace.SpanStartOption{trace.WithSpanKind(kind)}
		if !trace.SpanContextFromContext(ctx).IsRemote() {
			// No caller's span: a new trace, never a child of whatever
			// span the server's own ctx holds.
			startOpts = append(startOpts, trace.WithNewRoot())
		}
		ctx, span := tracer.Start(ctx, "process "+req.Target.Topic, startOpts...)
		defer span.End()
		if span.IsRecording() {
			span.SetAttributes(spanAttrs(system, "process", "process", req.UniqueID, req.Method, req.Target, req.Namespace, req.Version)...)
		}

		start := time.Now()
		res, err := next(ctx, req)
		elapsed := time.Since(start).Seconds()

		metricAttrs := []attribute.KeyValue{keyOpName.String(op), keyMethod.String(req.Method), keyDest.String(req.Target.Topic)}
		if err != nil {
			class := errorClass(err)
			metricAttrs = append(metricAttrs, keyOutcome.String(outcomeError), keyErrorType.String(class))
			span.SetAttributes(keyErrorType.String(class))
			span.SetStatus(codes.Error, err.Error())
		} else {
			metricAttrs = append(metricAttrs, keyOutcome.String(outcomeOK))
		}
		set := metric.WithAttributeSet(attribute.NewSet(metricAttrs...))
		ins.requests.Add(ctx, 1, set)
		ins.duration.Record(ctx, elapsed, set)
		return res, err
	}
}

// errorClass is the exception class the caller of a failed request sees,
// as rpcerr.FailureOf names it.
func errorClass(err error) string {
	var ce rpcerr.Classed
	var pe *rpcerr.PanicError
	if errors.As(err, &ce) && !errors.As(err, &pe) {
		class, _ := ce.ExceptionClass()
		return class
	}
	return "RuntimeError"
}

// spanAttrs are the attributes of a span for a request.
func spanAttrs(system attribute.KeyValue, opName, opType, id, method string, tgt target.Target, ns, version string) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 10)
	attrs = append(attrs, system, keyDest.String(tgt.Topic), keyOpName.String(opName), keyOpType.String(opType),
		keyRPCSystem.String(rpcSystemOslo), keyMethod.String(method))
	if id != "" {
		attrs = append(attrs, keyMessageID.String(id))
	}
	if ns != "" {
		attrs = append(attrs, keyNamespace.String(ns))
	}
	if version != "" {
		attrs = append(attrs, keyVersion.String(version))
	}
	if tgt.Server != "" {
		attrs = append(attrs, keyServer.String(tgt.Server))
	}
	return attrs
}

// newID returns a message id as oslo.messaging makes them: a random UUID
// as 32 hex digits.
func newID() string {
	u := uuid.New()
	return hex.EncodeToString(u[:])
}
