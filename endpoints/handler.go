package endpoints

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
)

// Handler runs one RPC method. args holds the caller's keyword arguments
// as a JSON object; the dispatcher never passes an empty one ("{}" when
// there are none). The result is encoded with encoding/json and sent to
// the caller; an error is sent as an exception (see rpcerr.FailureOf).
//
// ServeRPC may be called from many goroutines at once.
type Handler interface {
	ServeRPC(ctx context.Context, args json.RawMessage) (any, error)
}

// HandlerFunc adapts an ordinary function to a Handler.
type HandlerFunc func(ctx context.Context, args json.RawMessage) (any, error)

// ServeRPC returns f(ctx, args).
func (f HandlerFunc) ServeRPC(ctx context.Context, args json.RawMessage) (any, error) {
	return f(ctx, args)
}

// binder is implemented by handlers that learn the method name they are
// registered under, to name it in their ArgumentErrors. Endpoint.Handle
// binds them once, at registration.
type binder interface {
	bind(method string) (Handler, error)
}

// Typed adapts f, a function of one argument struct, to a Handler. The
// keyword arguments are decoded into A with encoding/json: keywords match
// struct fields by their json tag or name, case-insensitively as
// encoding/json does. A keyword that matches no field, or a value of the
// wrong type, fails with an *ArgumentError; unknown keys inside nested
// objects are ignored, as encoding/json and Python dicts do. A may also be
// a map type, which takes every keyword, a pointer to a struct or map, any
// (a map[string]any), or a type with its own UnmarshalJSON; struct{} takes
// no arguments. Numbers decoded into an interface value (a map[string]any,
// an any field) are json.Number, so that integers beyond 2^53, which Python
// sends as they are, keep every digit.
//
// f must not be nil; Endpoint.Handle reports a nil f, and an A that cannot
// hold keyword arguments, as registration errors.
func Typed[A, R any](f func(context.Context, A) (R, error)) Handler {
	spec, err := newArgSpec(reflect.TypeFor[A]())
	return &typed[A, R]{f: f, spec: spec, specErr: err}
}

type typed[A, R any] struct {
	f       func(context.Context, A) (R, error)
	spec    argSpec
	specErr error
	method  string
}

// ServeRPC decodes args into an A and calls f.
func (t *typed[A, R]) ServeRPC(ctx context.Context, args json.RawMessage) (any, error) {
	var a A
	if err := t.spec.decode(t.method, args, &a); err != nil {
		return nil, err
	}
	r, err := t.f(ctx, a)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (t *typed[A, R]) argNames() ([]string, bool) { return t.spec.names() }

func (t *typed[A, R]) bind(method string) (Handler, error) {
	if t.f == nil {
		return nil, errNilHandler
	}
	if t.specErr != nil {
		return nil, t.specErr
	}
	b := *t
	b.method = method
	return &b, nil
}

// Register registers f under method on e, decoding its arguments as Typed
// does. It is e.Handle(method, Typed(f)).
func Register[A, R any](e *Endpoint, method string, f func(context.Context, A) (R, error)) {
	e.Handle(method, Typed(f))
}

// methodHandler runs a method found by FromObject. Everything about it is
// resolved at registration; a call decodes and calls through reflection.
type methodHandler struct {
	name string
	fn   reflect.Value // the method bound to its receiver
	spec argSpec
}

// ServeRPC decodes args into the method's argument type and calls the
// method through reflection.
func (m *methodHandler) ServeRPC(ctx context.Context, args json.RawMessage) (any, error) {
	a := reflect.New(m.spec.typ)
	if err := m.spec.decode(m.name, args, a.Interface()); err != nil {
		return nil, err
	}
	out := m.fn.Call([]reflect.Value{reflect.ValueOf(&ctx).Elem(), a.Elem()})
	if err, _ := out[1].Interface().(error); err != nil {
		return nil, err
	}
	return out[0].Interface(), nil
}

func (m *methodHandler) argNames() ([]string, bool) { return m.spec.names() }

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// rpcShaped reports whether t, the type of a bound method, has the shape
// func(context.Context, A) (R, error).
func rpcShaped(t reflect.Type) bool {
	return t.NumIn() == 2 && t.In(0) == contextType && !t.IsVariadic() &&
		t.NumOut() == 2 && t.Out(1) == errorType
}

// newMethodHandler checks that fn, a bound method, has the signature
// func(context.Context, A) (R, error) with a usable A, and returns the
// Handler that calls it as method name.
func newMethodHandler(name string, fn reflect.Value) (*methodHandler, error) {
	t := fn.Type()
	if !rpcShaped(t) {
		return nil, fmt.Errorf("want func(context.Context, A) (R, error), have %s", t)
	}
	spec, err := newArgSpec(t.In(1))
	if err != nil {
		return nil, err
	}
	return &methodHandler{name: name, fn: fn, spec: spec}, nil
}
