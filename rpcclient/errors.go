package rpcclient

import (
	"errors"
	"fmt"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/transport"
)

// Conditions a Call or Cast can end with. Match them with errors.Is.
var (
	// ErrTimeout means a call got no reply in time. Errors matching it
	// also match context.DeadlineExceeded.
	ErrTimeout = transport.ErrTimeout
	// ErrClosed means the transport was closed.
	ErrClosed = transport.ErrClosed
	// ErrNoRoute means no server listens on the target.
	ErrNoRoute = transport.ErrNoRoute
	// ErrNoSuchMethod means the servers' endpoints for the requested
	// namespace and version do not have the method. A *RemoteError from
	// oslo's dispatcher class NoSuchMethod matches it.
	ErrNoSuchMethod = errors.New("rpcclient: no such method")
	// ErrUnsupportedVersion means no endpoint of the server serves the
	// requested namespace and version. A *RemoteError from oslo's
	// dispatcher class UnsupportedVersion matches it.
	ErrUnsupportedVersion = errors.New("rpcclient: unsupported version")
)

// dispatcherModule is the module oslo.messaging's dispatcher errors, and
// warren's, are reported from.
const dispatcherModule = "oslo_messaging.rpc.dispatcher"

// RemoteError is an error the remote method returned (in Python terms: an
// exception it raised), as the server described it.
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
}

func newRemoteError(f *message.Failure) *RemoteError {
	module := f.Module
	if module == "exceptions" { // Python 2's name for builtins, as oslo normalises it
		module = "builtins"
	}
	return &RemoteError{
		Class:     f.Class,
		Module:    module,
		Message:   f.Message,
		Traceback: f.Traceback,
		Args:      f.Args,
		Kwargs:    f.Kwargs,
	}
}

// Error returns "rpcclient: remote <Class>: <Message>".
func (e *RemoteError) Error() string {
	if e.Message == "" {
		return "rpcclient: remote " + e.Class
	}
	return "rpcclient: remote " + e.Class + ": " + e.Message
}

// Is makes a RemoteError from oslo's (or warren's) dispatcher match
// ErrNoSuchMethod or ErrUnsupportedVersion.
func (e *RemoteError) Is(target error) bool {
	if e.Module != dispatcherModule {
		return false
	}
	switch target {
	case ErrNoSuchMethod:
		return e.Class == "NoSuchMethod"
	case ErrUnsupportedVersion:
		return e.Class == "UnsupportedVersion"
	}
	return false
}

// VersionCapError reports a request that was not sent because its version
// is above the client's version cap, or has no version while a cap is set.
type VersionCapError struct {
	// Method is the method the request was for.
	Method string
	// Version is the request's version, empty when it had none.
	Version string
	// Cap is the client's version cap.
	Cap string
}

// Error says which version was refused under which cap.
func (e *VersionCapError) Error() string {
	if e.Version == "" {
		return fmt.Sprintf("rpcclient: %s: a request without a version cannot be sent under version cap %s", e.Method, e.Cap)
	}
	return fmt.Sprintf("rpcclient: %s: version %s is incompatible with version cap %s", e.Method, e.Version, e.Cap)
}
