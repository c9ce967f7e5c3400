package dispatcher

import "errors"

// Conditions the typed dispatch errors match with errors.Is.
var (
	// ErrNoSuchMethod means no endpoint that accepts the request's
	// namespace and version has the method.
	ErrNoSuchMethod = errors.New("dispatcher: no such method")
	// ErrUnsupportedVersion means no endpoint accepts the request's
	// namespace and version.
	ErrUnsupportedVersion = errors.New("dispatcher: unsupported version")
)

// dispatcherModule is the module oslo.messaging's dispatch exceptions
// belong to.
const dispatcherModule = "oslo_messaging.rpc.dispatcher"

// NoSuchMethodError reports a request for a method that no compatible
// endpoint has, or a private one. It is oslo.messaging's NoSuchMethod, and
// its Error() is that exception's message, without a package prefix, since
// it travels to the caller as is. It matches ErrNoSuchMethod.
type NoSuchMethodError struct {
	// Method is the method requested.
	Method string
}

// Error returns "Endpoint does not support RPC method <method>".
func (e *NoSuchMethodError) Error() string {
	return "Endpoint does not support RPC method " + e.Method
}

// Is makes e match ErrNoSuchMethod.
func (e *NoSuchMethodError) Is(target error) bool { return target == ErrNoSuchMethod }

// ExceptionClass returns ("NoSuchMethod", "oslo_messaging.rpc.dispatcher").
func (e *NoSuchMethodError) ExceptionClass() (class, module string) {
	return "NoSuchMethod", dispatcherModule
}

// UnsupportedVersionError reports a request that no endpoint accepts: none
// is in its namespace with a compatible version. It is oslo.messaging's
// UnsupportedVersion, and its Error() is that exception's message, without
// a package prefix. It matches ErrUnsupportedVersion.
type UnsupportedVersionError struct {
	// Version is the version requested; "1.0" when the request had none.
	Version string
	// Method is the method requested.
	Method string
}

// Error returns "Endpoint does not support RPC version <version>.
// Attempted method: <method>".
func (e *UnsupportedVersionError) Error() string {
	return "Endpoint does not support RPC version " + e.Version + ". Attempted method: " + e.Method
}

// Is makes e match ErrUnsupportedVersion.
func (e *UnsupportedVersionError) Is(target error) bool { return target == ErrUnsupportedVersion }

// ExceptionClass returns ("UnsupportedVersion",
// "oslo_messaging.rpc.dispatcher").
func (e *UnsupportedVersionError) ExceptionClass() (class, module string) {
	return "UnsupportedVersion", dispatcherModule
}
