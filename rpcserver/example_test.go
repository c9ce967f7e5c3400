package rpcserver_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/memory"
)

// A calculator service on the in-process transport: serve it, call it, shut
// it down.
func Example() {
	ctx := context.Background()
	tr := memory.New()
	defer tr.Close()

	type operands struct{ A, B int }
	calc := endpoints.New(endpoints.Version("1.1"))
	endpoints.Register(calc, "add", func(_ context.Context, o operands) (int, error) {
		return o.A + o.B, nil
	})
	endpoints.Register(calc, "divide", func(_ context.Context, o operands) (int, error) {
		if o.B == 0 {
			return 0, &rpcerr.Error{Class: "ZeroDivisionError", Module: "builtins", Message: "division by zero"}
		}
		return o.A / o.B, nil
	})
	d, err := dispatcher.New([]*endpoints.Endpoint{calc})
	if err != nil {
		fmt.Println(err)
		return
	}

	srv := rpcserver.New(tr, target.Target{Topic: "calculator", Server: "host-1"}, d, rpcserver.Workers(8))
	if err := srv.Listen(ctx); err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	client := rpcclient.New(tr, target.Target{Topic: "calculator", Version: "1.0"})
	sum, err := rpcclient.Call[int](ctx, client, "add", map[string]int{"a": 2, "b": 3})
	if err != nil {
		fmt.Println(err)
	}
	fmt.Println("2 + 3 =", sum)

	err = client.Call(ctx, "divide", map[string]int{"a": 1, "b": 0}, nil)
	var remote *rpcerr.RemoteError
	if errors.As(err, &remote) {
		fmt.Printf("1 / 0: %s.%s: %s\n", remote.Module, remote.Class, remote.Message)
	}

	if err := srv.Shutdown(ctx); err != nil {
		fmt.Println(err)
	}
	fmt.Println(<-served)
	// Output:
	// 2 + 3 = 5
	// 1 / 0: builtins.ZeroDivisionError: division by zero
	// rpcserver: server closed
}

// Serving until a signal, the way a service's main does: the end of ctx
// stops the server gracefully, within its grace period.
func ExampleServer_Serve() {
	tr := memory.New()
	defer tr.Close()
	d, err := dispatcher.New(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := rpcserver.New(tr, target.Target{Topic: "calculator", Server: "host-1"}, d,
		rpcserver.GracePeriod(5*time.Second))

	// In a program: ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, stop := context.WithCancel(context.Background())
	stop()
	if err := srv.Serve(ctx); !errors.Is(err, rpcserver.ErrServerClosed) {
		fmt.Println(err)
	}
	fmt.Println("stopped")
	// Output:
	// stopped
}
