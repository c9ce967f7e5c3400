package rpcclient_test

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
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
)

// serveCalculator serves a calculator at version 1.2 as server host of
// topic "calculator" on tr, and returns once it listens. stop shuts it down.
func serveCalculator(tr transport.Transport, host string) (stop func()) {
	type operands struct{ A, B int }
	calc := endpoints.New(endpoints.Version("1.2"))
	endpoints.Register(calc, "add", func(_ context.Context, o operands) (int, error) {
		return o.A + o.B, nil
	})
	endpoints.Register(calc, "divide", func(_ context.Context, o operands) (int, error) {
		if o.B == 0 {
			return 0, &rpcerr.Error{Class: "ZeroDivisionError", Module: "builtins", Message: "division by zero"}
		}
		return o.A / o.B, nil
	})
	endpoints.Register(calc, "host", func(context.Context, struct{}) (string, error) {
		return host, nil
	})
	d, err := dispatcher.New([]*endpoints.Endpoint{calc})
	if err != nil {
		panic(err)
	}
	srv := rpcserver.New(tr, target.Target{Topic: "calculator", Server: host}, d)
	if err := srv.Listen(context.Background()); err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	return func() {
		srv.Shutdown(context.Background())
		<-served
	}
}

func ExampleClient_Call() {
	tr := memory.New()
	defer tr.Close()
	defer serveCalculator(tr, "host-1")()

	client := rpcclient.New(tr, target.Target{Topic: "calculator"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	var sum int
	if err := client.Call(ctx, "add", map[string]int{"a": 2, "b": 40}, &sum); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sum)
	// Output: 42
}

func ExampleClient_Prepare() {
	tr := memory.New()
	defer tr.Close()
	defer serveCalculator(tr, "host-1")()
	defer serveCalculator(tr, "host-2")()

	base := rpcclient.New(tr, target.Target{Topic: "calculator"}, rpcclient.VersionCap("1.2"))

	// Ask host-2 itself; base is unchanged.
	var host string
	if err := base.Prepare(rpcclient.Server("host-2"), rpcclient.Version("1.1")).Call(context.Background(), "host", nil, &host); err != nil {
		fmt.Println(err)
	}
	fmt.Println(host)

	// A version above the cap is not sent.
	err := base.Prepare(rpcclient.Version("1.3")).Call(context.Background(), "add", nil, nil)
	var capErr *rpcclient.VersionCapError
	fmt.Println(errors.As(err, &capErr), err)
	// Output:
	// host-2
	// true rpcclient: add: version 1.3 is incompatible with version cap 1.2
}

func ExampleRemoteError() {
	tr := memory.New()
	defer tr.Close()
	defer serveCalculator(tr, "host-1")()

	client := rpcclient.New(tr, target.Target{Topic: "calculator"})
	err := client.Call(context.Background(), "divide", map[string]int{"a": 1, "b": 0}, nil)
	var remote *rpcerr.RemoteError
	if errors.As(err, &remote) {
		fmt.Println(remote.Module, remote.Class)
	}
	fmt.Println(err)

	err = client.Call(context.Background(), "multiply", nil, nil)
	fmt.Println(errors.Is(err, rpcerr.ErrNoSuchMethod))
	// Output:
	// builtins ZeroDivisionError
	// rpcclient: call divide: remote ZeroDivisionError: division by zero
	// true
}
