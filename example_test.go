package warren_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/warrenrpc/warren"
	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

type divideArgs struct {
	Num1 float64 `json:"num1"`
	Num2 float64 `json:"num2"`
}

// Example serves a divide method and calls it, on the in-process memory
// driver that the URL memory:// selects.
func Example() {
	ctx := context.Background()
	tr, err := warren.Dial(ctx, transport.Config{URL: "memory://"})
	if err != nil {
		panic(err)
	}
	defer tr.Close()

	ep := endpoints.New()
	endpoints.Register(ep, "divide", func(ctx context.Context, a divideArgs) (float64, error) {
		if a.Num2 == 0 {
			return 0, rpcerr.NewError("InvalidOperation", "invalid operation")
		}
		return a.Num1 / a.Num2, nil
	})
	disp, err := dispatcher.New([]*endpoints.Endpoint{ep})
	if err != nil {
		panic(err)
	}
	srv := rpcserver.New(tr, target.Target{Topic: "calculator", Server: "host-1"}, disp)
	if err := srv.Listen(ctx); err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	cl := rpcclient.New(tr, target.Target{Topic: "calculator"})
	callCtx, cancel := context.WithTimeout(ctx, 5*time.Second) // the call's timeout
	defer cancel()
	q, err := rpcclient.Call[float64](callCtx, cl, "divide", divideArgs{Num1: 200, Num2: 100})
	fmt.Println(q, err)

	_, err = rpcclient.Call[float64](callCtx, cl, "divide", map[string]any{"num1": 1, "num2": 0})
	var remote *rpcerr.RemoteError
	if errors.As(err, &remote) {
		fmt.Println(remote.Class, remote.Message)
	}

	srv.Shutdown(ctx)
	fmt.Println(<-served)
	// Output:
	// 2 <nil>
	// InvalidOperation invalid operation
	// rpcserver: server closed
}
