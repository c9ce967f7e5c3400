package endpoints

import "errors"

// ErrInvalid is the condition every registration error matches with
// errors.Is: a bad, private or duplicate method name, a nil handler, a
// method whose signature or argument type cannot serve RPC, or a malformed
// version.
var ErrInvalid = errors.New("endpoints: invalid registration")

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
