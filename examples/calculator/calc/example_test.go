package calc_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/examples/calculator/calc"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/memory"
)

// A calculator server and a client on one in-process transport.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := memory.New()
	defer tr.Close()

	d, err := dispatcher.New([]*endpoints.Endpoint{calc.Endpoint(calc.ServerName("calc-1"))})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := rpcserver.New(tr, target.Target{Topic: calc.Topic, Server: "calc-1"}, d)
	if err := srv.Listen(ctx); err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	client := rpcclient.New(tr, target.Target{Topic: calc.Topic})
	var quotient, sum float64
	var who string
	err = client.Call(ctx, "divide", map[string]any{"num1": 200, "num2": 100}, &quotient)
	fmt.Println("divide(200, 100) =", quotient, err)
	err = client.Call(ctx, "add", map[string]any{"a": 2, "b": 3}, &sum)
	fmt.Println("add(2, 3) =", sum, err)
	err = client.Call(ctx, "whoami", nil, &who)
	fmt.Println("whoami() =", who, err)

	err = client.Call(ctx, "divide", map[string]any{"num1": 1, "num2": 0}, nil)
	var remote *rpcerr.RemoteError
	if errors.As(err, &remote) {
		fmt.Printf("divide(1, 0) failed: %s.%s: %s\n", remote.Module, remote.Class, remote.Message)
	}

	if err := srv.Shutdown(ctx); err != nil {
		fmt.Println(err)
	}
	fmt.Println(<-served)
	// Output:
	// divide(200, 100) = 2 <nil>
	// add(2, 3) = 5 <nil>
	// whoami() = calc-1 <nil>
	// divide(1, 0) failed: warren.InvalidOperation: invalid operation
	// rpcserver: server closed
}
