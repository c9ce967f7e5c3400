package servertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// waitLimit bounds each wait: for the server to listen, to shut down and
// for Serve to return.
const waitLimit = 10 * time.Second

// Server is an rpcserver.Server serving in the background of a test. Its
// methods may be called from any goroutine of the test.
type Server struct {
	*rpcserver.Server
	errc chan error // Serve's result, put back by each Wait
}

// Start serves eps as tgt on tr and returns once the server listens. opts
// are passed to rpcserver.New after an rpcserver.OnListen option of
// Start's own. When the test ends (after the cleanups registered later),
// the server is shut down, and Serve must have returned
// rpcserver.ErrServerClosed; tr stays open.
func Start(t testing.TB, tr transport.Transport, tgt target.Target, eps []*endpoints.Endpoint, opts ...rpcserver.Option) *Server {
	t.Helper()
	d, err := dispatcher.New(eps)
	if err != nil {
		t.Fatalf("dispatcher.New: %v", err)
	}
	listening := make(chan struct{})
	opts = append(opts[:len(opts):len(opts)], rpcserver.OnListen(func() { close(listening) }))
	s := &Server{Server: rpcserver.New(tr, tgt, d, opts...), errc: make(chan error, 1)}
	go func() { s.errc <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("server %s: Shutdown: %v", tgt, err)
		}
		if err := s.Wait(t); !errors.Is(err, rpcserver.ErrServerClosed) {
			t.Errorf("server %s: Serve = %v, want ErrServerClosed", tgt, err)
		}
	})
	select {
	case <-listening:
	case err := <-s.errc:
		t.Fatalf("server %s: Serve = %v before listening", tgt, err)
	case <-time.After(waitLimit):
		t.Fatalf("server %s did not start listening within %v", tgt, waitLimit)
	}
	return s
}

// Wait returns what the background Serve returned, failing t when it does
// not return within ten seconds. It may be called more than once.
func (s *Server) Wait(t testing.TB) error {
	t.Helper()
	select {
	case err := <-s.errc:
		s.errc <- err
		return err
	case <-time.After(waitLimit):
		t.Fatalf("Serve did not return within %v", waitLimit)
		return nil
	}
}
