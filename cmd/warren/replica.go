package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// replica is one running server of the demo or the bench.
type replica struct {
	name   string
	srv    *rpcserver.Server
	served chan error // Serve's result
}

// startReplica starts a server of tgt on tr that dispatches with disp, and
// returns once it listens. The replica outlives ctx, which only bounds the
// start: stop it with stop.
func startReplica(ctx context.Context, tr transport.Transport, tgt target.Target, disp *dispatcher.Dispatcher) (*replica, error) {
	r := &replica{name: tgt.Server, srv: rpcserver.New(tr, tgt, disp), served: make(chan error, 1)}
	if err := r.srv.Listen(ctx); err != nil {
		return nil, err
	}
	go func() { r.served <- r.srv.Serve(context.WithoutCancel(ctx)) }()
	return r, nil
}

// stop shuts r down gracefully within timeout and waits for its Serve to
// return. It returns nil when r finished its requests and stopped.
func (r *replica) stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	served := <-r.served
	if err != nil {
		return fmt.Errorf("Shutdown: %w", err)
	}
	if !errors.Is(served, rpcserver.ErrServerClosed) {
		return fmt.Errorf("Serve returned %w", served)
	}
	return nil
}
