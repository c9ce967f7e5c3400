// Command quickstart serves a divide method and calls it: the README's
// quick start, kept identical to it by a test.
//
//	WARREN_TRANSPORT_URL=memory:// go run ./examples/quickstart
//	WARREN_TRANSPORT_URL=rabbit://guest:guest@localhost:5672/ go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
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

type DivideArgs struct {
	Num1 float64 `json:"num1"`
	Num2 float64 `json:"num2"`
}

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	cfg, err := transport.ConfigFromEnv() // WARREN_TRANSPORT_URL and WARREN_CONTROL_EXCHANGE
	if err != nil {
		return err
	}
	tr, err := warren.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer tr.Close()

	// The server: one endpoint with a typed handler, served as "host-1".
	ep := endpoints.New()
	endpoints.Register(ep, "divide", func(ctx context.Context, a DivideArgs) (float64, error) {
		if a.Num2 == 0 {
			return 0, rpcerr.NewError("InvalidOperation", "invalid operation")
		}
		return a.Num1 / a.Num2, nil
	})
	disp, err := dispatcher.New([]*endpoints.Endpoint{ep})
	if err != nil {
		return err
	}
	srv := rpcserver.New(tr, target.Target{Topic: "calculator", Server: "host-1"}, disp)
	if err := srv.Listen(ctx); err != nil { // its queues exist: calls to the topic reach it
		return err
	}
	go srv.Serve(ctx) // a program serves from a signal ctx: its end stops the server gracefully
	defer srv.Shutdown(ctx)

	// The client: a call, a call that fails remotely, a cast to every server.
	cl := rpcclient.New(tr, target.Target{Topic: "calculator"})
	callCtx, cancel := context.WithTimeout(ctx, 5*time.Second) // the calls' timeout
	defer cancel()
	q, err := rpcclient.Call[float64](callCtx, cl, "divide", DivideArgs{Num1: 200, Num2: 100})
	if err != nil {
		return err
	}
	fmt.Println("200 / 100 =", q)
	var remote *rpcerr.RemoteError
	if _, err := rpcclient.Call[float64](callCtx, cl, "divide", DivideArgs{Num1: 1, Num2: 0}); !errors.As(err, &remote) {
		return fmt.Errorf("1 / 0: want a remote error, have %v", err)
	}
	fmt.Println("1 / 0:", remote.Class, remote.Message)
	return cl.Prepare(rpcclient.Fanout()).Cast(callCtx, "divide", DivideArgs{Num1: 1, Num2: 1})
}
