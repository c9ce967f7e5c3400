package rpcclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/serializer"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// DefaultTimeout is how long a call waits for its reply when its ctx has no
// deadline and no Timeout option was given; oslo.messaging's
// rpc_response_timeout has the same default.
const DefaultTimeout = 60 * time.Second

// settings is everything an Option can change. It is copied by Prepare, so
// it holds no reference that a copy could share and then mutate.
type settings struct {
	tgt          target.Target
	timeout      time.Duration
	versionCap   string
	callMonitor  time.Duration
	reqContext   map[string]any // never modified once set: options replace it
	interceptors []Interceptor  // never appended to in place: options copy it
	errors       *rpcerr.Registry
	ser          serializer.Serializer
	err          error // the first bad option, reported by Call and Cast
}

// fail records err as the first bad option.
func (s *settings) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// Option changes a setting of a Client. Options are given to New and
// Prepare.
type Option func(*settings)

// Topic sets the target's topic.
func Topic(topic string) Option { return func(s *settings) { s.tgt.Topic = topic } }

// Exchange sets the target's exchange; empty means the transport's control
// exchange.
func Exchange(exchange string) Option { return func(s *settings) { s.tgt.Exchange = exchange } }

// Namespace sets the namespace requests ask for; empty means the default
// namespace.
func Namespace(ns string) Option { return func(s *settings) { s.tgt.Namespace = ns } }

// Version sets the API version requests ask for, as "X.Y" or "X.Y.Z"; empty
// sends none, which servers read as "1.0".
func Version(v string) Option { return func(s *settings) { s.tgt.Version = v } }

// Server sends requests to the named server of the topic only; empty means
// any server of the topic.
func Server(name string) Option { return func(s *settings) { s.tgt.Server = name } }

// Fanout makes casts reach every server of the topic. A fanout client
// cannot call.
func Fanout() Option { return func(s *settings) { s.tgt.Fanout = true } }

// Timeout sets how long a call, or a cast's hand-over to the transport,
// may take when its ctx has no deadline. Zero restores DefaultTimeout; a
// negative d makes every Call and Cast of the client fail. A ctx deadline
// always wins.
func Timeout(d time.Duration) Option {
	return func(s *settings) {
		switch {
		case d < 0:
			s.fail(fmt.Errorf("negative timeout %v", d))
		case d == 0:
			s.timeout = DefaultTimeout
		default:
			s.timeout = d
		}
	}
}

// VersionCap refuses to send a request whose version is not compatible with
// v (same major, minor and revision at most v's), as oslo's version_cap
// does: with a cap set, a request without a version is refused too. The
// refusal is a *VersionCapError. Empty removes the cap.
func VersionCap(v string) Option { return func(s *settings) { s.versionCap = v } }

// CallMonitor asks servers to send heartbeats while a call runs, and fails
// the call with a timeout when neither a heartbeat nor the reply arrives
// within d, so a long call can have a long deadline and still notice a dead
// server early. It is oslo's call_monitor_timeout: servers send a heartbeat
// every d/2 rounded down to whole seconds, and ignore d below 2 s. Zero
// turns it off; a negative d makes every Call of the client fail.
func CallMonitor(d time.Duration) Option {
	return func(s *settings) {
		if d < 0 {
			s.fail(fmt.Errorf("negative call monitor %v", d))
			return
		}
		s.callMonitor = d
	}
}

// RequestContext sets the request context sent with every request, as
// oslo's ctxt: each key travels as "_context_<key>" and reaches the
// server's handler. The map is copied; nil sends none. A request context
// on the call's ctx (serializer.WithRequestContext) is laid over it key by
// key: the ctx's entries win, and keys only this map has are sent too.
func RequestContext(m map[string]any) Option {
	m = maps.Clone(m)
	return func(s *settings) { s.reqContext = m }
}

// Errors makes calls rebuild the error types of r: a remote failure of a
// registered class comes back as a *rpcerr.RemoteError that unwraps to a
// value of that type, fields included, so that errors.As finds it. Nil,
// the default, registers none.
func Errors(r *rpcerr.Registry) Option {
	return func(s *settings) { s.errors = r }
}

// Interceptors wraps every call and cast of the client in is, the first
// outermost, after any interceptors given before (to New, or to the client
// Prepare was called on). A nil interceptor makes every Call and Cast of
// the client fail.
func Interceptors(is ...Interceptor) Option {
	return func(s *settings) {
		for i, in := range is {
			if in == nil {
				s.fail(fmt.Errorf("interceptor %d is nil", i))
			}
		}
		s.interceptors = slices.Concat(s.interceptors, is)
	}
}

// Client sends calls and casts to one target. It is safe for concurrent use
// by multiple goroutines; its settings never change after New or Prepare.
type Client struct {
	tr    transport.Transport
	s     settings
	chain Invoker // the interceptors around send, built once; nil without any
}

// New returns a client that sends to tgt over tr, with opts applied on top
// of tgt. It does no I/O; the target is validated by Call and Cast.
func New(tr transport.Transport, tgt target.Target, opts ...Option) *Client {
	c := &Client{tr: tr, s: settings{tgt: tgt, timeout: DefaultTimeout}}
	for _, o := range opts {
		o(&c.s)
	}
	c.buildChain()
	return c
}

// Prepare returns a copy of c with opts applied. c itself is not changed, so
// one Client can serve as the base of many prepared ones.
func (c *Client) Prepare(opts ...Option) *Client {
	p := &Client{tr: c.tr, s: c.s}
	for _, o := range opts {
		o(&p.s)
	}
	p.buildChain()
	return p
}

// Call runs method on a server of the target and waits for its reply.
//
// args holds the keyword arguments: nil for none, or a value (map, struct,
// json.RawMessage) that marshals to a JSON object. reply is a pointer the
// result is decoded into as JSON, or nil to ignore the result; a null result
// leaves it untouched. Numbers decoded into an interface value (reply of
// type *any or *map[string]any, say) are json.Number, so that integers
// beyond 2^53 keep every digit.
//
// The wait ends at ctx's deadline, or after the client's Timeout when ctx
// has none; the error then matches transport.ErrTimeout and
// context.DeadlineExceeded. An error the method returned wraps a
// *rpcerr.RemoteError.
func (c *Client) Call(ctx context.Context, method string, args any, reply any) error {
	// Many calls may wait at once, each on its caller's goroutine, whose
	// stack the runtime halves at a GC only when the frames in use fit in
	// a quarter of it. Setting up and reading the reply run in helpers of
	// their own, so that this frame, live while the call waits, stays
	// small; without interceptors it calls the transport itself.
	inv, ctx, cancel, err := c.startCall(ctx, method, args, reply)
	if err != nil {
		return err
	}
	if cancel != nil {
		defer cancel()
	}
	var rep *message.Reply
	if c.chain == nil {
		rep, err = c.tr.Call(ctx, inv.Target, inv.Request)
	} else {
		rep, err = c.chain(ctx, inv)
	}
	return c.endCall(ctx, method, reply, rep, err)
}

// startCall checks a call and builds its invocation, with ctx bounded by
// the client's Timeout when it has no deadline (cancel, when not nil,
// releases that ctx).
//
//go:noinline // inlined, its locals would stay in Call's waiting frame
func (c *Client) startCall(ctx context.Context, method string, args, reply any) (*Invocation, context.Context, context.CancelFunc, error) {
	if err := c.check("call", method, c.s.tgt.ValidateCall); err != nil {
		return nil, nil, nil, err
	}
	if reply != nil {
		if v := reflect.ValueOf(reply); v.Kind() != reflect.Pointer || v.IsNil() {
			return nil, nil, nil, fmt.Errorf("rpcclient: call %s: reply must be a non-nil pointer, not %T", method, reply)
		}
	}
	inv, err := c.invocation(ctx, "call", method, args)
	if err != nil {
		return nil, nil, nil, err
	}
	inv.Request.CallMonitor = c.s.callMonitor
	var cancel context.CancelFunc
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, c.s.timeout)
	}
	return inv, ctx, cancel, nil
}

// endCall turns what the interceptors and the transport returned for a
// call into Call's error, decoding the result into reply.
//
//go:noinline // inlined, its locals would stay in Call's waiting frame
func (c *Client) endCall(ctx context.Context, method string, reply any, rep *message.Reply, err error) error {
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, transport.ErrTimeout) {
			// The deadline ran out before the transport could wait for a
			// reply (for instance while publishing): still a timeout.
			err = fmt.Errorf("%w: %w", transport.ErrTimeout, err)
		}
		return fmt.Errorf("rpcclient: call %s: %w", method, err)
	}
	if rep == nil {
		return fmt.Errorf("rpcclient: call %s: an interceptor returned no reply", method)
	}
	if rep.Failure != nil {
		return fmt.Errorf("rpcclient: call %s: %w", method, rpcerr.FromFailure(rep.Failure, c.s.errors))
	}
	if reply == nil || len(rep.Result) == 0 || bytes.Equal(rep.Result, jsonNull) {
		return nil
	}
	if err := c.decodeResult(ctx, rep.Result, reply); err != nil {
		return fmt.Errorf("rpcclient: call %s: %w", method, err)
	}
	return nil
}

// Call runs method on a server of c's target, as c.Call does, and returns
// its result decoded into an R: the typed counterpart of the generic
// handlers of package endpoints. A null result is R's zero value.
func Call[R any](ctx context.Context, c *Client, method string, args any) (R, error) {
	var r R
	err := c.Call(ctx, method, args, &r)
	return r, err
}

// Cast sends method to a server of the target, or to every server when the
// target is fanout, and returns once the transport has handed the request
// over; it does not wait for the method to run. args is as for Call.
//
// The hand-over is bounded by ctx, or by the client's Timeout when ctx has
// no deadline; the request itself carries no deadline, so servers run it
// however long it waited in the queue.
func (c *Client) Cast(ctx context.Context, method string, args any) error {
	if err := c.check("cast", method, c.s.tgt.ValidateCast); err != nil {
		return err
	}
	inv, err := c.invocation(ctx, "cast", method, args)
	if err != nil {
		return err
	}
	inv.Cast = true
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.s.timeout)
		defer cancel()
	}
	if _, err := c.invoke(ctx, inv); err != nil {
		return fmt.Errorf("rpcclient: cast %s: %w", method, err)
	}
	return nil
}

// check reports a bad option, a bad target or a missing method name.
func (c *Client) check(kind, method string, validate func() error) error {
	if c.s.err != nil {
		return fmt.Errorf("rpcclient: %s %s: %w", kind, method, c.s.err)
	}
	if method == "" {
		return fmt.Errorf("rpcclient: %s: a method name is required", kind)
	}
	if err := validate(); err != nil {
		return fmt.Errorf("rpcclient: %s %s: %w", kind, method, err)
	}
	return nil
}

// buildChain wraps send in the client's interceptors, the first
// outermost, once for all its calls. Without interceptors the chain is
// nil, and calls and casts go to send with no frame in between.
func (c *Client) buildChain() {
	c.chain = nil
	for i := len(c.s.interceptors) - 1; i >= 0; i-- {
		in, inner := c.s.interceptors[i], c.chain
		if in == nil {
			continue // a bad option: Call and Cast fail before the chain
		}
		if inner == nil {
			inner = c.send
		}
		c.chain = func(ctx context.Context, inv *Invocation) (*message.Reply, error) {
			return in(ctx, inv, inner)
		}
	}
}

// invoke runs inv through the interceptors and then the transport.
func (c *Client) invoke(ctx context.Context, inv *Invocation) (*message.Reply, error) {
	if c.chain == nil {
		return c.send(ctx, inv)
	}
	return c.chain(ctx, inv)
}

// send hands inv to the transport: the Invoker at the end of every chain.
func (c *Client) send(ctx context.Context, inv *Invocation) (*message.Reply, error) {
	if inv.Cast {
		return nil, c.tr.Cast(ctx, inv.Target, inv.Request)
	}
	return c.tr.Call(ctx, inv.Target, inv.Request)
}

var jsonNull = []byte("null")

// outgoing is an invocation and the request it carries, allocated
// together.
type outgoing struct {
	inv Invocation
	req message.Request
}

// invocation checks what calls and casts have in common and builds the
// invocation of a call to the client's target: version cap, arguments,
// request context.
func (c *Client) invocation(ctx context.Context, kind, method string, args any) (*Invocation, error) {
	if err := c.checkVersionCap(method); err != nil {
		return nil, err
	}
	raw, err := c.encodeArgs(ctx, args)
	if err != nil {
		return nil, fmt.Errorf("rpcclient: %s %s: %w", kind, method, err)
	}
	reqContext, err := c.requestContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("rpcclient: %s %s: %w", kind, method, err)
	}
	o := &outgoing{req: message.Request{
		Method:    method,
		Args:      raw,
		Namespace: c.s.tgt.Namespace,
		Version:   c.s.tgt.Version,
		Context:   reqContext,
	}}
	o.inv = Invocation{Target: c.s.tgt, Request: &o.req}
	return &o.inv, nil
}

// checkVersionCap applies oslo's can_send_version: with a cap, the request
// version must be present and compatible with it.
func (c *Client) checkVersionCap(method string) error {
	vcap := c.s.versionCap
	if vcap == "" {
		return nil
	}
	if _, err := target.ParseVersion(vcap); err != nil {
		return fmt.Errorf("rpcclient: %s: version cap: %w", method, err)
	}
	if !target.Compatible(vcap, c.s.tgt.Version) {
		return &VersionCapError{Method: method, Version: c.s.tgt.Version, Cap: vcap}
	}
	return nil
}
