package endpoints

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/warrenrpc/warren/target"
)

// Endpoint is a set of RPC methods served under one namespace and version,
// like an oslo.messaging endpoint object with its target. Build it with
// New or FromObject, add methods with Handle or Register, check Err, and
// hand it to the dispatcher, which copies what it needs: later changes do
// not reach a dispatcher already built.
//
// An Endpoint is not safe for concurrent modification; its accessors may
// be called concurrently once it is built.
type Endpoint struct {
	namespace string
	version   string
	methods   map[string]Handler
	exclude   map[string]bool // Go method names FromObject leaves out
	err       error
}

// Option sets an optional property of an Endpoint.
type Option func(*Endpoint)

// Namespace puts the endpoint's methods in namespace ns. Only requests for
// that namespace reach them. The default, "", is oslo's default namespace
// (None), which requests without a namespace address.
func Namespace(ns string) Option {
	return func(e *Endpoint) { e.namespace = ns }
}

// Version declares the API version the endpoint implements, as "X.Y" or
// "X.Y.Z". It serves requests for the same major version and a minor
// version up to its own. The default, "", means "1.0". A malformed version
// is a registration error.
func Version(v string) Option {
	return func(e *Endpoint) {
		if _, err := target.ParseVersion(v); err != nil {
			e.fail(fmt.Errorf("%w: %w", ErrInvalid, err))
			return
		}
		e.version = v
	}
}

// Exclude leaves the named Go methods (such as "Close") out of an
// endpoint built by FromObject, even when they have the RPC signature.
// Naming a method the object does not have is a registration error, as is
// Exclude given to New, which registers no methods by name.
func Exclude(methods ...string) Option {
	return func(e *Endpoint) {
		if e.exclude == nil {
			e.exclude = make(map[string]bool, len(methods))
		}
		for _, m := range methods {
			e.exclude[m] = true
		}
	}
}

// New returns an empty endpoint with the given options.
func New(opts ...Option) *Endpoint {
	e := newEndpoint(opts)
	if e.exclude != nil {
		e.fail(fmt.Errorf("%w: Exclude applies to FromObject only", ErrInvalid))
	}
	return e
}

func newEndpoint(opts []Option) *Endpoint {
	e := &Endpoint{methods: make(map[string]Handler)}
	for _, opt := range opts {
		opt(e)
	}
	return e
}

// Handle registers h as method. The name must not be empty, must not start
// with "_" (such names are private, as oslo's default access policy has
// it) and must not be registered already; h must not be nil. A failed
// registration is recorded: Err, and dispatcher.New, report it.
func (e *Endpoint) Handle(method string, h Handler) {
	switch {
	case method == "":
		e.fail(fmt.Errorf("%w: empty method name", ErrInvalid))
		return
	case strings.HasPrefix(method, "_"):
		e.fail(fmt.Errorf("%w: method %q: names starting with \"_\" are private", ErrInvalid, method))
		return
	case e.methods[method] != nil:
		e.fail(fmt.Errorf("%w: method %q registered twice", ErrInvalid, method))
		return
	case isNil(h):
		e.fail(fmt.Errorf("%w: method %q: %w", ErrInvalid, method, errNilHandler))
		return
	}
	if b, ok := h.(binder); ok {
		bound, err := b.bind(method)
		if err != nil {
			e.fail(fmt.Errorf("%w: method %q: %w", ErrInvalid, method, err))
			return
		}
		h = bound
	}
	e.methods[method] = h
}

var errNilHandler = errors.New("nil handler")

func isNil(h Handler) bool {
	if h == nil {
		return true
	}
	v := reflect.ValueOf(h)
	switch v.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map:
		return v.IsNil()
	}
	return false
}

func (e *Endpoint) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// Err returns the first registration error, or nil. Every such error
// matches ErrInvalid.
func (e *Endpoint) Err() error { return e.err }

// NamespaceName returns the endpoint's namespace; "" is the default one.
func (e *Endpoint) NamespaceName() string { return e.namespace }

// VersionString returns the version the endpoint implements as declared;
// "" means "1.0".
func (e *Endpoint) VersionString() string { return e.version }

// Methods returns the names of the registered methods, sorted.
func (e *Endpoint) Methods() []string {
	names := make([]string, 0, len(e.methods))
	for name := range e.methods {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Handler returns the handler registered as method, or nil.
func (e *Endpoint) Handler(method string) Handler { return e.methods[method] }

// Args returns the names of the keyword arguments method takes, and true,
// when its handler knows them: a handler made by Typed, Register or
// FromObject whose argument type is a struct knows the JSON names of its
// fields. It returns false for a method that is not registered, or whose
// handler takes any keyword (a map or an interface argument, a
// HandlerFunc).
func (e *Endpoint) Args(method string) ([]string, bool) {
	n, ok := e.methods[method].(argNamer)
	if !ok {
		return nil, false
	}
	return n.argNames()
}

// argNamer is implemented by handlers that know their keyword arguments.
type argNamer interface {
	argNames() ([]string, bool)
}

// PingMethod is the method of the Ping endpoint, the name oslo.messaging
// servers answer health checks on.
const PingMethod = "oslo_rpc_server_ping"

// Ping returns the endpoint oslo.messaging servers add when rpc_ping_enabled
// is set: in the default namespace at version "1.0", method PingMethod takes
// any keyword arguments and returns "pong". The dispatcher appends one
// unless told otherwise.
func Ping() *Endpoint {
	e := New(Version("1.0"))
	e.Handle(PingMethod, HandlerFunc(func(context.Context, json.RawMessage) (any, error) {
		return "pong", nil
	}))
	return e
}
