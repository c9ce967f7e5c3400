// Package endpoints is how a service declares the RPC methods it serves.
//
// An Endpoint groups methods under a namespace and a version, as an
// oslo.messaging endpoint object with its target does. A method is a
// Handler, which receives the caller's keyword arguments as a JSON object
// and returns a result to encode as JSON, or an error. Most code never
// sees the JSON: Register (or Typed) adapts a function of one argument
// struct, and FromObject serves every exported method of a value:
//
//	type DivideArgs struct {
//		X int `json:"x"`
//		Y int `json:"y"`
//	}
//
//	ep := endpoints.New(endpoints.Namespace("calc"), endpoints.Version("1.3"))
//	endpoints.Register(ep, "divide", func(ctx context.Context, a DivideArgs) (int, error) {
//		if a.Y == 0 {
//			return 0, rpcerr.NewError("ZeroDivisionError", "division by zero")
//		}
//		return a.X / a.Y, nil
//	})
//	if err := ep.Err(); err != nil { ... }
//
// Registration errors (a bad or duplicate name, a nil handler, a method
// that cannot serve RPC, a malformed version) are collected rather than
// returned at each call: Endpoint.Err reports the first, and
// dispatcher.New refuses an endpoint that has one. FromObject skips
// exported methods that do not have the RPC signature, and Exclude leaves
// out others by name.
//
// # Options
//
// Options are bare names (Namespace, Version, Exclude). Leaving one out,
// or its zero value, means its default; a value that cannot be used (a
// malformed version) is a registration error, never silently replaced.
//
// # Arguments
//
// Keyword arguments map to struct fields by their json tags, as
// encoding/json decodes them. As in Python, a keyword the method does not
// take, or a value of the wrong type, fails the call with an
// *ArgumentError, which a Python caller sees as TypeError ("divide() got an
// unexpected keyword argument 'z'"). Keywords a caller leaves out keep
// their zero value. Numbers decoded into interface values are json.Number,
// so Python's big integers keep every digit. Endpoint.Args lists the
// keywords a method takes when its argument type is a struct, for
// introspection.
//
// # Errors
//
// Whatever error a handler returns reaches the caller as an exception.
// An error that implements rpcerr.Classed (such as *rpcerr.Error, or a type
// of the service's own) chooses its class and module; a Python caller
// rebuilds builtins exceptions and those of modules it allows, and sees any
// other as oslo_messaging.RemoteError. A Go caller can get a type of its
// own back (see package rpcerr).
//
// # Request context
//
// The context an oslo.messaging caller sends with a request (user, project,
// request id and so on) is available to handlers through RequestContext.
package endpoints
