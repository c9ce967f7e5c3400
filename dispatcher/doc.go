// Package dispatcher routes RPC requests to endpoint methods by
// oslo.messaging's rules, so a Go server answers exactly as a Python one
// would.
//
// For a request with method m, namespace ns and version v (default "1.0"),
// the endpoints are tried in the order given. An endpoint is compatible
// when its namespace is ns and its version (default "1.0") can serve v:
// same major version, and a minor version at least v's (an endpoint at
// "1.3" serves "1.0" to "1.3", not "1.4" or "2.0"). The first compatible
// endpoint that has m runs it. A request that names the empty namespace
// (Request.EmptyNamespace) is told apart from one that names none, as oslo
// does: it matches no endpoint. If none has it, the request fails with
// NoSuchMethodError when some endpoint was compatible, and with
// UnsupportedVersionError when none was; both carry oslo's exception class,
// module and message, so Python callers see NoSuchMethod and
// UnsupportedVersion, and match rpcerr.ErrNoSuchMethod and
// rpcerr.ErrUnsupportedVersion, as a client's *rpcerr.RemoteError for them
// does. Method names starting with "_" are private and never
// run. The oslo ping endpoint (endpoints.Ping) is appended last unless
// NoPing is given.
//
// Interceptors wrap every method call, the first given outermost, as grpc's
// unary interceptors do; logging, metrics, tracing and panic recovery
// belong there. The dispatcher itself does no I/O, starts no goroutines,
// logs nothing and does not recover panics: the server installs an
// interceptor that does.
//
// Endpoints describes what a dispatcher serves (namespaces, versions,
// methods and their argument names), for introspection.
//
// # Options
//
// Options are bare names (Interceptors, NoPing). Leaving an option out
// means its default; a value New cannot use (a nil interceptor) is an
// error from New, never silently ignored.
package dispatcher
