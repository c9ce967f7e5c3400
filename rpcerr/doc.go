// Package rpcerr holds the errors that cross the wire between RPC callers
// and servers, and their conversion to and from oslo.messaging's failure
// format (message.Failure). It sits below the dispatcher, the endpoints,
// the client and the server, which all report or match these values, and
// imports nothing of warren's but package message.
//
// # Classes
//
// An error that implements Classed names the exception class and module a
// caller sees; Error is the ready-made one. The server turns any error into
// a failure with FailureOf: a Classed error gives its class and module,
// any other a builtins.RuntimeError with the error's text, and a
// *PanicError the Go stack as traceback. Python callers rebuild the
// exception as oslo.messaging does.
//
// # Conditions
//
// One sentinel per condition a caller can match with errors.Is, whoever
// reports it: ErrNoSuchMethod and ErrUnsupportedVersion match both the
// dispatcher's own errors on the server and a client's *RemoteError of
// oslo's dispatcher classes, from a Go or a Python server.
// ErrServerShuttingDown and ErrReplyTooLarge match the failures a warren
// server sends instead of leaving a caller waiting.
//
// # Typed errors from Go to Go
//
// A failure carries the exception's keyword arguments. For a Classed error
// of any module but builtins, other than *Error (which sends its own
// Kwargs), these are the error's fields as encoding/json encodes them. A
// client given a Registry of such types (rpcclient.Errors) rebuilds a
// value of the registered type from a failure of its class and module,
// fields included, and returns it wrapped in the *RemoteError, so that
// errors.As finds it. Python peers see oslo's failure format unchanged.
// A Registry is built once and never changes, so clients may share one.
package rpcerr
