package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/target"
)

// Request is what the dispatcher needs of an RPC request.
type Request struct {
	// Method is the method to run.
	Method string
	// Namespace selects endpoints. Zero is the default namespace, unless
	// EmptyNamespace is set.
	Namespace string
	// EmptyNamespace, with Namespace "", means the caller named the empty
	// namespace ("namespace": "" on the wire) rather than none. As with
	// oslo.messaging, it matches no endpoint, since endpoints of the
	// default namespace answer only requests that name none: the request
	// fails with UnsupportedVersionError.
	EmptyNamespace bool
	// Version is the API version requested. Zero means "1.0".
	Version string
	// Args holds the keyword arguments as a JSON object. Nil means none.
	Args json.RawMessage
	// Context is the caller's request context, handed to the handler
	// through endpoints.RequestContext. Nil means none.
	Context map[string]any
	// Headers are the application headers a Go caller sent with the
	// request (message.Request.Headers), such as tracing's traceparent.
	// The dispatcher does not use them; interceptors may. Nil means none.
	Headers map[string]string
	// Cast is true when the caller expects no reply. The dispatcher does
	// not use it; interceptors may (a failed cast is worth a louder log
	// line than a failed call, whose caller hears of it).
	Cast bool
	// Target is the target of the server that received the request, for
	// interceptors that describe it (tracing's destination). The
	// dispatcher does not use it. Zero outside a server.
	Target target.Target
	// MsgID identifies a call and its replies (message.Request.MsgID);
	// empty for a cast. The dispatcher does not use it.
	MsgID string
	// UniqueID identifies the message the request came in
	// (message.Request.UniqueID), for duplicate detection and tracing's
	// message id. The dispatcher does not use it. Empty when unknown.
	UniqueID string
}

// Handler runs a request that was routed to a method: the next step an
// Interceptor calls.
type Handler func(ctx context.Context, req *Request) (any, error)

// Interceptor wraps the call of every method the dispatcher runs, for
// logging, metrics, tracing, authorization or panic recovery. It calls
// next to run the method (or does not, to refuse it) and returns its
// result, which the dispatcher then encodes, or an error. It runs only for
// requests that reached a method: routing errors (NoSuchMethodError,
// UnsupportedVersionError) are returned without calling any interceptor.
// req is the caller's request and must not be modified; to change the
// arguments the method sees, pass next a modified copy (routing is already
// done, so a changed Method or Version has no effect). The dispatcher may
// run an interceptor from many goroutines at once.
type Interceptor func(ctx context.Context, req *Request, next Handler) (any, error)

// Option sets an optional property of a Dispatcher.
type Option func(*options)

type options struct {
	interceptors []Interceptor
	noPing       bool
}

// Interceptors wraps every method call in the interceptors, the first
// outermost. Repeated options add to the list. A nil interceptor makes New
// fail.
func Interceptors(is ...Interceptor) Option {
	return func(o *options) { o.interceptors = append(o.interceptors, is...) }
}

// NoPing leaves out the endpoints.Ping endpoint, which the dispatcher
// otherwise appends after the given endpoints, as oslo.messaging does with
// rpc_ping_enabled.
func NoPing() Option {
	return func(o *options) { o.noPing = true }
}

// defaultVersion is the version of a request or an endpoint that names
// none.
const defaultVersion = "1.0"

// Dispatcher routes requests to endpoint methods by oslo.messaging's
// rules. It does no I/O and starts no goroutines. It is safe for
// concurrent use by multiple goroutines.
type Dispatcher struct {
	endpoints []endpoint
}

// endpoint is the dispatcher's copy of an endpoints.Endpoint, each method
// already wrapped in the interceptors.
type endpoint struct {
	namespace string
	version   string
	methods   map[string]Handler
	info      EndpointInfo
}

// EndpointInfo describes an endpoint a dispatcher routes to, for
// introspection.
type EndpointInfo struct {
	// Namespace is the endpoint's namespace; "" is the default one.
	Namespace string `json:"namespace"`
	// Version is the version the endpoint implements, "1.0" when it
	// declared none.
	Version string `json:"version"`
	// Methods are the endpoint's methods, sorted by name.
	Methods []MethodInfo `json:"methods"`
}

// MethodInfo describes one method of an endpoint.
type MethodInfo struct {
	// Name is the method's name.
	Name string `json:"name"`
	// Args are the names of its keyword arguments (endpoints.Endpoint.Args),
	// nil when its handler does not know them.
	Args []string `json:"args"`
}

// New returns a dispatcher for eps, tried in order, followed by
// endpoints.Ping unless NoPing is given. It copies the endpoints'
// methods: registrations made afterwards do not reach it. It fails if an
// endpoint is nil or has a registration error (endpoints.Endpoint.Err), or
// if there is no endpoint at all, or if an interceptor is nil.
func New(eps []*endpoints.Endpoint, opts ...Option) (*Dispatcher, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	for i, in := range o.interceptors {
		if in == nil {
			return nil, fmt.Errorf("dispatcher: interceptor %d is nil", i)
		}
	}
	if !o.noPing {
		eps = append(eps[:len(eps):len(eps)], endpoints.Ping())
	}
	if len(eps) == 0 {
		return nil, errors.New("dispatcher: no endpoints")
	}
	d := &Dispatcher{endpoints: make([]endpoint, len(eps))}
	for i, ep := range eps {
		if ep == nil {
			return nil, fmt.Errorf("dispatcher: endpoint %d is nil", i)
		}
		if err := ep.Err(); err != nil {
			return nil, fmt.Errorf("dispatcher: endpoint %d: %w", i, err)
		}
		version := ep.VersionString()
		if version == "" {
			version = defaultVersion
		}
		names := ep.Methods()
		methods := make(map[string]Handler, len(names))
		info := EndpointInfo{Namespace: ep.NamespaceName(), Version: version, Methods: make([]MethodInfo, len(names))}
		for j, name := range names {
			methods[name] = chain(o.interceptors, ep.Handler(name))
			args, _ := ep.Args(name)
			info.Methods[j] = MethodInfo{Name: name, Args: args}
		}
		d.endpoints[i] = endpoint{namespace: ep.NamespaceName(), version: version, methods: methods, info: info}
	}
	return d, nil
}

// Endpoints describes the endpoints d routes to, in the order it tries
// them (the ping endpoint last, unless NoPing was given). The caller owns
// the returned values.
func (d *Dispatcher) Endpoints() []EndpointInfo {
	infos := make([]EndpointInfo, len(d.endpoints))
	for i, ep := range d.endpoints {
		info := ep.info
		info.Methods = make([]MethodInfo, len(ep.info.Methods))
		for j, m := range ep.info.Methods {
			info.Methods[j] = MethodInfo{Name: m.Name, Args: slices.Clone(m.Args)}
		}
		infos[i] = info
	}
	return infos
}

// chain wraps the call of h in the interceptors, the first outermost.
func chain(is []Interceptor, h endpoints.Handler) Handler {
	next := func(ctx context.Context, req *Request) (any, error) {
		args := req.Args
		if len(args) == 0 {
			args = json.RawMessage("{}") // a new one each time: handlers may write to it
		}
		if err := endpoints.CheckArgs(req.Method, args); err != nil {
			return nil, err
		}
		return h.ServeRPC(ctx, args)
	}
	for i := len(is) - 1; i >= 0; i-- {
		interceptor, inner := is[i], next
		next = func(ctx context.Context, req *Request) (any, error) {
			return interceptor(ctx, req, inner)
		}
	}
	return next
}

// Dispatch runs the method req names and returns its result encoded as
// JSON, by oslo.messaging's rules. A request without a version asks for
// "1.0". The endpoints are tried in order; one is compatible when its
// namespace equals the request's and target.Compatible(its version, or
// "1.0", the request's version) holds. The first compatible endpoint that
// has the method runs it, with ctx carrying req.Context (see
// endpoints.RequestContext). A request with EmptyNamespace matches no
// endpoint. When none has it, Dispatch returns a
// *NoSuchMethodError if some endpoint was compatible, and an
// *UnsupportedVersionError otherwise. Names starting with "_" are never
// registered, so they are never run.
//
// A handler's error is returned as is. Arguments that are not a JSON
// object fail with an *endpoints.ArgumentError, as Python's f(**args)
// does; a result encoding/json cannot encode fails with an error.
func (d *Dispatcher) Dispatch(ctx context.Context, req *Request) (json.RawMessage, error) {
	result, err := d.Invoke(ctx, req)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(result)
	if err != nil {
		return nil, fmt.Errorf("dispatcher: method %q: encoding the result: %w", req.Method, err)
	}
	return b, nil
}

// Invoke runs the method req names as Dispatch does, and returns its
// result as the handler returned it, for a server that encodes results
// itself (with a serializer).
func (d *Dispatcher) Invoke(ctx context.Context, req *Request) (any, error) {
	version := req.Version
	if version == "" {
		version = defaultVersion
	}
	compatible := false
	for i := range d.endpoints {
		ep := &d.endpoints[i]
		if ep.namespace != req.Namespace || (req.EmptyNamespace && req.Namespace == "") ||
			!target.Compatible(ep.version, version) {
			continue
		}
		compatible = true
		h := ep.methods[req.Method]
		if h == nil {
			continue
		}
		return h(endpoints.WithRequestContext(ctx, req.Context), req)
	}
	if compatible {
		return nil, &NoSuchMethodError{Method: req.Method}
	}
	return nil, &UnsupportedVersionError{Version: version, Method: req.Method}
}
