package rpcclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"time"

	"github.com/warrenrpc/warren/message"
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
	tgt         target.Target
	timeout     time.Duration
	versionCap  string
	callMonitor time.Duration
	reqContext  map[string]any // never modified once set: options replace it
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
// may take when its ctx has no deadline. Zero or negative restores
// DefaultTimeout. A ctx deadline always wins.
func Timeout(d time.Duration) Option {
	return func(s *settings) {
		if d <= 0 {
			d = DefaultTimeout
		}
		s.timeout = d
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
// turns it off.
func CallMonitor(d time.Duration) Option {
	return func(s *settings) {
		if d < 0 {
			d = 0
		}
		s.callMonitor = d
	}
}

// RequestContext sets the request context sent with every request, as
// oslo's ctxt: each key travels as "_context_<key>" and reaches the
// server's handler. The map is copied; nil sends none.
func RequestContext(m map[string]any) Option {
	m = maps.Clone(m)
	return func(s *settings) { s.reqContext = m }
}

// Client sends calls and casts to one target. It is safe for concurrent use
// by multiple goroutines; its settings never change after New or Prepare.
type Client struct {
	tr transport.Transport
	s  settings
}

// New returns a client that sends to tgt over tr, with opts applied on top
// of tgt. It does no I/O; the target is validated by Call and Cast.
func New(tr transport.Transport, tgt target.Target, opts ...Option) *Client {
	c := &Client{tr: tr, s: settings{tgt: tgt, timeout: DefaultTimeout}}
	for _, o := range opts {
		o(&c.s)
	}
	return c
}

// Prepare returns a copy of c with opts applied. c itself is not changed, so
// one Client can serve as the base of many prepared ones.
func (c *Client) Prepare(opts ...Option) *Client {
	p := &Client{tr: c.tr, s: c.s}
	for _, o := range opts {
		o(&p.s)
	}
	return p
}

// Call runs method on a server of the target and waits for its reply.
//
// args holds the keyword arguments: nil for none, or a value (map, struct,
// json.RawMessage) that marshals to a JSON object. reply is a pointer the
// result is decoded into as JSON, or nil to ignore the result; a null result
// leaves it untouched.
//
// The wait ends at ctx's deadline, or after the client's Timeout when ctx
// has none; the error then matches ErrTimeout and context.DeadlineExceeded.
// An error the method returned is a *RemoteError.
func (c *Client) Call(ctx context.Context, method string, args any, reply any) error {
	if err := c.s.tgt.ValidateCall(); err != nil {
		return fmt.Errorf("rpcclient: call %s: %w", method, err)
	}
	req, err := c.request("call", method, args)
	if err != nil {
		return err
	}
	if reply != nil {
		if v := reflect.ValueOf(reply); v.Kind() != reflect.Pointer || v.IsNil() {
			return fmt.Errorf("rpcclient: call %s: reply must be a non-nil pointer, not %T", method, reply)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.s.timeout)
		defer cancel()
	}
	req.CallMonitor = c.s.callMonitor

	rep, err := c.tr.Call(ctx, c.s.tgt, req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrTimeout) {
			// The deadline ran out before the transport could wait for a
			// reply (for instance while publishing): still a timeout.
			err = fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return fmt.Errorf("rpcclient: call %s: %w", method, err)
	}
	if rep.Failure != nil {
		return newRemoteError(rep.Failure)
	}
	if reply == nil || len(rep.Result) == 0 || bytes.Equal(rep.Result, jsonNull) {
		return nil
	}
	if err := json.Unmarshal(rep.Result, reply); err != nil {
		return fmt.Errorf("rpcclient: call %s: decoding the result into %T: %w", method, reply, err)
	}
	return nil
}

// Cast sends method to a server of the target, or to every server when the
// target is fanout, and returns once the transport has handed the request
// over; it does not wait for the method to run. args is as for Call.
//
// The hand-over is bounded by ctx, or by the client's Timeout when ctx has
// no deadline; the request itself carries no deadline, so servers run it
// however long it waited in the queue.
func (c *Client) Cast(ctx context.Context, method string, args any) error {
	if err := c.s.tgt.ValidateCast(); err != nil {
		return fmt.Errorf("rpcclient: cast %s: %w", method, err)
	}
	req, err := c.request("cast", method, args)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.s.timeout)
		defer cancel()
	}
	if err := c.tr.Cast(ctx, c.s.tgt, req); err != nil {
		return fmt.Errorf("rpcclient: cast %s: %w", method, err)
	}
	return nil
}

var jsonNull = []byte("null")

// request checks what calls and casts have in common and builds the
// request: method name, version cap, arguments.
func (c *Client) request(kind, method string, args any) (*message.Request, error) {
	if method == "" {
		return nil, fmt.Errorf("rpcclient: %s: a method name is required", kind)
	}
	if err := c.checkVersionCap(method); err != nil {
		return nil, err
	}
	raw, err := marshalArgs(args)
	if err != nil {
		return nil, fmt.Errorf("rpcclient: %s %s: %w", kind, method, err)
	}
	return &message.Request{
		Method:    method,
		Args:      raw,
		Namespace: c.s.tgt.Namespace,
		Version:   c.s.tgt.Version,
		Context:   c.s.reqContext,
	}, nil
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

// marshalArgs encodes args as the JSON object of keyword arguments. Nil, and
// values that marshal to null (a nil map), mean no arguments.
func marshalArgs(args any) (json.RawMessage, error) {
	if args == nil {
		return nil, nil
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("encoding arguments: %w", err)
	}
	if bytes.Equal(raw, jsonNull) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("arguments must encode to a JSON object of keyword arguments, but %T does not", args)
	}
	return raw, nil
}
