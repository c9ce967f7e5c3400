package integration_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/rabbit"
)

// TestChaosRestartWithNoConsumerGrace restarts a private broker under a
// server and a client with durable queues, so that the server's queue
// outlives the restart without a consumer until the server is back. The
// client's grace (2 s) is shorter than the restart (3 s): calls made
// during and after it still succeed, since reads from before the client's
// own reconnect do not count and the server is back well within the
// grace after it. Once the server stops for good, a call fails with
// ErrNoConsumer well before its deadline.
func TestChaosRestartWithNoConsumerGrace(t *testing.T) {
	const grace = 2 * time.Second
	n := chaosNode(t, "grace")
	url := n.URL() + "?amqp_durable_queues=true"
	fast := rabbit.Reconnect(rabbit.Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond})
	dialNode := func(opts ...rabbit.Option) *rabbit.Transport {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
		defer cancel()
		tr, err := rabbit.Dial(ctx, url, append(opts, fast)...)
		if err != nil {
			t.Fatalf("rabbit.Dial(%s) = %v", url, err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	tgt := target.Target{Exchange: "grace", Topic: "grace", Server: "go1"}
	d, err := dispatcher.New([]*endpoints.Endpoint{calcEndpoint("go1", nil, nil, endpoints.Namespace("calc"))})
	if err != nil {
		t.Fatalf("dispatcher.New = %v", err)
	}
	srv := rpcserver.New(dialNode(), tgt, d)
	if err := srv.Listen(t.Context()); err != nil {
		t.Fatalf("Listen = %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	stop := sync.OnceValue(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		return errors.Join(srv.Shutdown(ctx), ignoreClosed(<-served))
	})
	t.Cleanup(func() { _ = stop() })
	started := time.Now()
	client := rpcclient.New(dialNode(rabbit.NoConsumerGrace(grace)), tgt, rpcclient.Namespace("calc"), rpcclient.Version("1.3"))
	call := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(t.Context(), d)
		defer cancel()
		var who string
		return client.Call(ctx, "whoami", nil, &who)
	}
	if err := call(10 * time.Second); err != nil {
		t.Fatalf("Call before the restart = %v", err)
	}

	ctl(t, n, "stop_app")
	during := make(chan error, 1)
	go func() { during <- call(30 * time.Second) }()
	hold(3 * time.Second)
	ctl(t, n, "start_app")
	if err := <-during; err != nil {
		t.Errorf("Call made during the restart = %v, want its reply", err)
	}
	// Past two graces after the restart, calls keep being answered.
	for end := time.Now().Add(2*grace + time.Second); time.Now().Before(end); {
		if err := call(10 * time.Second); err != nil {
			t.Fatalf("Call after the restart = %v, want its reply", err)
		}
	}

	t.Logf("the restart and %v of calls after it took %v", 2*grace+time.Second, time.Since(started))
	if err := stop(); err != nil {
		t.Fatalf("server Shutdown = %v", err)
	}
	start := time.Now()
	err = call(30 * time.Second)
	t.Logf("a call to the stopped server failed after %v: %v", time.Since(start), err)
	if !errors.Is(err, transport.ErrNoConsumer) || time.Since(start) > 15*time.Second {
		t.Errorf("Call to the stopped server = %v after %v, want ErrNoConsumer well before its 30 s deadline", err, time.Since(start))
	}
}

// ignoreClosed returns err unless it is rpcserver.ErrServerClosed, what
// Serve returns after Shutdown.
func ignoreClosed(err error) error {
	if errors.Is(err, rpcserver.ErrServerClosed) {
		return nil
	}
	return err
}
