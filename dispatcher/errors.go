package dispatcher

import "github.com/warrenrpc/warren/rpcerr"

// NoSuchMethodError reports a request for a method that no compatible
// endpoint has, or a private one. It is oslo.messaging's NoSuchMethod, and
// its Error() is that exception's message, without a package prefix, since
// it travels to the caller as is. It matches rpcerr.ErrNoSuchMethod, as
// does the *rpcerr.RemoteError a client receives for it.
type NoSuchMethodError struct {
	// Method is the method requested. It is not sent as a keyword
	// argument: oslo's NoSuchMethod sends none.
	Method string `json:"-"`
}

// Error returns "Endpoint does not support RPC method <method>".
func (e *NoSuchMethodError) Error() string {
	return "Endpoint does not support RPC method " + e.Method
}

// Is makes e match rpcerr.ErrNoSuchMethod.
func (e *NoSuchMethodError) Is(target error) bool { return target == rpcerr.ErrNoSuchMethod }

// ExceptionClass returns ("NoSuchMethod", "oslo_messaging.rpc.dispatcher").
func (e *NoSuchMethodError) ExceptionClass() (class, module string) {
	return "NoSuchMethod", rpcerr.DispatcherModule
}

// UnsupportedVersionError reports a request that no endpoint accepts: none
// is in its namespace with a compatible version. It is oslo.messaging's
// UnsupportedVersion, and its Error() is that exception's message, without
// a package prefix. It matches rpcerr.ErrUnsupportedVersion, as does the
// *rpcerr.RemoteError a client receives for it.
type UnsupportedVersionError struct {
	// Version is the version requested; "1.0" when the request had none.
	// It is not sent as a keyword argument, nor is Method.
	Version string `json:"-"`
	// Method is the method requested.
	Method string `json:"-"`
}

// Error returns "Endpoint does not support RPC version <version>.
// Attempted method: <method>".
func (e *UnsupportedVersionError) Error() string {
	return "Endpoint does not support RPC version " + e.Version + ". Attempted method: " + e.Method
}

// Is makes e match rpcerr.ErrUnsupportedVersion.
func (e *UnsupportedVersionError) Is(target error) bool {
	return target == rpcerr.ErrUnsupportedVersion
}

// ExceptionClass returns ("UnsupportedVersion",
// "oslo_messaging.rpc.dispatcher").
func (e *UnsupportedVersionError) ExceptionClass() (class, module string) {
	return "UnsupportedVersion", rpcerr.DispatcherModule
}
