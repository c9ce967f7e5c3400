package endpoints

import "errors"

// ErrInvalid is the condition every registration error matches with
// errors.Is: a bad, private or duplicate method name, a nil handler, a
// method whose signature or argument type cannot serve RPC, or a malformed
// version.
var ErrInvalid = errors.New("endpoints: invalid registration")

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
	// Zero means "warren". Python callers rebuild the exception only for
	// "builtins" and the modules they allow (allowed_remote_exmods); others
	// get an oslo_messaging.RemoteError naming Class.
	Module string
	// Message is the exception message.
	Message string
	// Args are the exception's positional arguments. Nil means the server
	// sends [Message], as a Python exception built from a message has.
	Args []any
	// Kwargs are the exception's keyword arguments. Nil means none.
	Kwargs map[string]any
}

// NewError returns an Error of class class in module "warren" with the
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
		module = "warren"
	}
	return class, module
}

// ArgumentError reports keyword arguments a method cannot take: an unknown
// keyword, or a value of the wrong type. Callers see it as Python's
// builtins.TypeError. Error() reads like Python's message, such as
// "divide() got an unexpected keyword argument 'x'", without a package
// prefix, since it travels to the caller as is.
type ArgumentError struct {
	// Method is the RPC method called. Zero leaves the "name()" prefix out
	// of the message.
	Method string
	// Err says what is wrong, as Python phrases it after the function name,
	// such as "got an unexpected keyword argument 'x'". It may wrap the
	// underlying decoding error.
	Err error
}

// Error returns the message a Python caller would see.
func (e *ArgumentError) Error() string {
	if e.Method == "" {
		return e.Err.Error()
	}
	return e.Method + "() " + e.Err.Error()
}

// Unwrap returns e.Err.
func (e *ArgumentError) Unwrap() error { return e.Err }

// ExceptionClass returns ("TypeError", "builtins").
func (e *ArgumentError) ExceptionClass() (class, module string) {
	return "TypeError", "builtins"
}
