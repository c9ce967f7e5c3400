package rpcerr

import (
	"errors"
	"fmt"
)

// Conditions callers and servers match with errors.Is.
var (
	// ErrNoSuchMethod means no endpoint that accepts the request's
	// namespace and version has the method (oslo's NoSuchMethod).
	ErrNoSuchMethod = errors.New("rpcerr: no such method")
	// ErrUnsupportedVersion means no endpoint accepts the request's
	// namespace and version (oslo's UnsupportedVersion).
	ErrUnsupportedVersion = errors.New("rpcerr: unsupported version")
	// ErrServerShuttingDown means the server stopped the request's handler
	// because it was shutting down, before the handler could answer.
	ErrServerShuttingDown = errors.New("rpcerr: server shutting down")
	// ErrReplyTooLarge means the server could not send the method's reply
	// because it was larger than the transport allows.
	ErrReplyTooLarge = errors.New("rpcerr: reply too large")
)

// Modules and classes of the failures this package knows.
const (
	// DispatcherModule is the module of oslo.messaging's dispatcher
	// exceptions, NoSuchMethod and UnsupportedVersion, which warren's
	// dispatcher reports too.
	DispatcherModule = "oslo_messaging.rpc.dispatcher"
	// Module is the module of warren's own exception classes, and of an
	// Error without one.
	Module = "warren"
	// ClassServerShuttingDown is the class of the failure a server sends
	// for a call whose handler it stopped when shutting down.
	ClassServerShuttingDown = "ServerShuttingDown"
	// ClassMessageTooLarge is the class of the failure a server sends
	// instead of a reply too large for the transport.
	ClassMessageTooLarge = "MessageTooLarge"
)

// classKey identifies an exception class by name and module.
type classKey struct{ class, module string }

// conditions maps the classes of known conditions to their sentinels.
var conditions = map[classKey]error{
	{"NoSuchMethod", DispatcherModule}:       ErrNoSuchMethod,
	{"UnsupportedVersion", DispatcherModule}: ErrUnsupportedVersion,
	{ClassServerShuttingDown, Module}:        ErrServerShuttingDown,
	{ClassMessageTooLarge, Module}:           ErrReplyTooLarge,
}

// Classed is implemented by every error that names the exception class a
// caller sees. The server reports such an error as that class and module,
// with Error() as the exception message; a Python caller rebuilds it as
// oslo.messaging does (builtins and allowed modules become the real class,
// anything else a RemoteError naming the class).
type Classed interface {
	error
	// ExceptionClass returns the exception's class name and module, such
	// as ("TypeError", "builtins").
	ExceptionClass() (class, module string)
}

// Error is an error a handler returns to choose the exception callers see.
// Error() is the exception message, without a package prefix, since it
// travels to the caller as is.
type Error struct {
	// Class is the exception class name, such as "NotFound". Zero means
	// "Error".
	Class string
	// Module is the module the class belongs to, such as "myservice.errors".
	// Zero means Module ("warren"). Python callers rebuild the exception
	// only for "builtins" and the modules they allow
	// (allowed_remote_exmods); others get an oslo_messaging.RemoteError
	// naming Class.
	Module string
	// Message is the exception message.
	Message string
	// Args are the exception's positional arguments. Nil means the server
	// sends [Message], as a Python exception built from a message has.
	Args []any
	// Kwargs are the exception's keyword arguments. Nil means none.
	Kwargs map[string]any
}

// NewError returns an Error of class class in module Module with the
// given message.
func NewError(class, message string) *Error {
	return &Error{Class: class, Message: message}
}

// Error returns the exception message.
func (e *Error) Error() string { return e.Message }

// ExceptionClass returns e's class and module, with their defaults
// applied.
func (e *Error) ExceptionClass() (class, module string) {
	class, module = e.Class, e.Module
	if class == "" {
		class = "Error"
	}
	if module == "" {
		module = Module
	}
	return class, module
}

// Is makes an Error of a known condition's class match its sentinel, so
// that a handler (or an interceptor) can return NewError-built
// conditions that callers match.
func (e *Error) Is(target error) bool {
	class, module := e.ExceptionClass()
	return target != nil && conditions[classKey{class, module}] == target
}

// PanicError is a handler's panic turned into an error, reported to the
// caller as a builtins.RuntimeError "panic: <value>" whose traceback is
// the Go stack.
type PanicError struct {
	// Value is what the handler panicked with.
	Value any
	// Stack is the goroutine's stack at the panic, as runtime/debug.Stack
	// formats it.
	Stack []byte
}

// Error returns "panic: <value>".
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }
