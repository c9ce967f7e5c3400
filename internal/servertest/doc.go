// Package servertest runs an rpcserver.Server in the background of a test:
// Start returns once the server listens, and when the test ends the server
// is shut down and Serve must have returned rpcserver.ErrServerClosed. It
// is for warren's own tests.
package servertest
