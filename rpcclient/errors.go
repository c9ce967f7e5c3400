package rpcclient

import "fmt"

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
