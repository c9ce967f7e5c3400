package rpcerr

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/warrenrpc/warren/message"
)

// builtins is Python's module of built-in exceptions.
const builtins = "builtins"

// FailureOf describes err as the failure a caller receives. A *PanicError
// is a builtins.RuntimeError "panic: ..." with the Go stack as traceback;
// an *Error gives its class, module, message, args and kwargs; any other
// Classed error its class and module, Error() as message and, unless its
// module is builtins (whose Python classes take no keyword arguments), its
// fields as encoding/json encodes them as kwargs; any other error is a
// builtins.RuntimeError with err's text. Args default to [message], as a
// Python exception built from a message has.
func FailureOf(err error) *message.Failure {
	f := &message.Failure{
		Class:     "RuntimeError",
		Module:    builtins,
		Message:   err.Error(),
		Traceback: []string{},
	}
	var (
		pe *PanicError
		ee *Error
		ce Classed
	)
	switch {
	case errors.As(err, &pe):
		f.Message = pe.Error()
		f.Traceback = stackLines(pe.Stack)
	case errors.As(err, &ee):
		f.Class, f.Module = ee.ExceptionClass()
		f.Message = ee.Message
		f.Args, f.Kwargs = ee.Args, ee.Kwargs
	case errors.As(err, &ce):
		f.Class, f.Module = ce.ExceptionClass()
		f.Message = ce.Error()
		if f.Module != builtins {
			f.Kwargs = fieldsOf(ce)
		}
	}
	if f.Args == nil {
		f.Args = []any{f.Message}
	}
	if f.Kwargs == nil {
		f.Kwargs = map[string]any{}
	}
	return f
}

// fieldsOf returns the JSON object encoding/json makes of err, or nil when
// it makes none (an error, or another JSON value). Numbers stay
// json.Number, so that large integers keep every digit.
func fieldsOf(err error) map[string]any {
	b, jerr := json.Marshal(err)
	if jerr != nil || len(b) == 0 || b[0] != '{' {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil || len(m) == 0 {
		return nil
	}
	return m
}

// stackLines splits a Go stack into traceback entries, each ending in a
// newline as Python's formatted traceback entries do.
func stackLines(stack []byte) []string {
	lines := strings.SplitAfter(string(stack), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	return lines
}

// RemoteError is an error the remote method returned (in Python terms: an
// exception it raised), as the server described it. It matches, with
// errors.Is, the sentinel of a known condition's class (ErrNoSuchMethod
// for oslo's dispatcher NoSuchMethod, and so on), and unwraps to the typed
// error a Registry rebuilt from it, if any.
type RemoteError struct {
	// Class is the exception class name, such as "ValueError".
	Class string
	// Module is the module that defines Class, such as "builtins".
	Module string
	// Message is the exception's text.
	Message string
	// Traceback is the remote stack as the server sent it, one entry per
	// frame; it may be empty.
	Traceback []string
	// Args are the exception's positional arguments.
	Args []any
	// Kwargs are the exception's keyword arguments.
	Kwargs map[string]any
	// Err is the error of a registered type rebuilt from the failure;
	// nil when its class is not registered or its kwargs do not decode.
	Err error
}

// FromFailure returns the *RemoteError that f describes. When r (which may
// be nil) has a type registered for f's class and module, Err holds a
// value of that type with its fields decoded from f's kwargs.
func FromFailure(f *message.Failure, r *Registry) *RemoteError {
	module := f.Module
	if module == "exceptions" { // Python 2's name for builtins, as oslo normalises it
		module = builtins
	}
	e := &RemoteError{
		Class:     f.Class,
		Module:    module,
		Message:   f.Message,
		Traceback: f.Traceback,
		Args:      f.Args,
		Kwargs:    f.Kwargs,
	}
	e.Err = r.rebuild(e.Class, e.Module, f.Kwargs)
	return e
}

// Error returns "remote <Class>: <Message>".
func (e *RemoteError) Error() string {
	if e.Message == "" {
		return "remote " + e.Class
	}
	return "remote " + e.Class + ": " + e.Message
}

// Unwrap returns e.Err.
func (e *RemoteError) Unwrap() error { return e.Err }

// Is makes e match the sentinel of its class's condition, such as
// ErrNoSuchMethod for oslo's dispatcher NoSuchMethod.
func (e *RemoteError) Is(target error) bool {
	return target != nil && conditions[classKey{e.Class, e.Module}] == target
}
