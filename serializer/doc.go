// Package serializer is oslo.messaging's fourth concept beside transport,
// target and dispatcher: the hook that turns what a program sends into the
// JSON that travels, and what arrives back into what the program reads.
//
// A Serializer has four methods, as oslo's: serialize and deserialize an
// entity (keyword arguments, results, notification payloads), and serialize
// and deserialize the request context. rpcclient.Serializer and
// rpcserver.Serializer take one; both default to JSON, plain encoding/json
// with a typed RequestContext.
//
// # Request context
//
// OpenStack services pass a request context with every message, in keys
// _context_<name>: who calls (user, project, domain, roles, token) and the
// request ids that tie logs together. RequestContext is
// oslo_context.RequestContext as a Go value, and Map and
// ParseRequestContext are the one place that maps its fields to those keys.
// A caller puts one on the ctx of a call:
//
//	ctx = serializer.WithRequestContext(ctx, &serializer.RequestContext{UserID: "u1", ProjectID: "p1", Roles: []string{"reader"}})
//	err := client.Call(ctx, "get", args, &reply)
//
// and a handler reads the caller's from its ctx:
//
//	rc := serializer.RequestContextFrom(ctx) // nil when the caller sent none
//
// A Python oslo.messaging peer using RequestContextSerializer sends its
// RequestContext.to_dict() and rebuilds ours with from_dict.
//
// # Versioned objects
//
// Objects is the codec for oslo.versionedobjects' envelopes
// ("nova_object.name", "nova_object.version", "nova_object.data", ...) that
// nova and other services send: register Go struct types under object
// names and versions, and values of those types travel as objects, while
// objects received reach typed handlers as their plain data.
//
// # Conventions
//
// Zero arguments keep the defaults (NewObjects("", "") is
// oslo.versionedobjects' own prefix and namespace; a nil Serializer given to
// a client or server means JSON). Malformed input from a peer is an error
// matching ErrMalformed, never a panic.
package serializer
