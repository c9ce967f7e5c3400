package memory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/memory"
)

// A client calls a server that runs on a raw Listener, over two transports
// that share a Bus as two processes share a broker.
func Example() {
	bus := memory.NewBus()
	client := memory.New(memory.OnBus(bus))
	defer client.Close()
	server := memory.New(memory.OnBus(bus))
	defer server.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	lis, err := server.Listen(ctx, target.Target{Topic: "calculator", Server: "host-1"})
	if err != nil {
		fmt.Println("listen:", err)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			in, err := lis.Next(ctx)
			if err != nil {
				return // the listener stopped
			}
			var args struct{ A, B int }
			if err := json.Unmarshal(in.Request().Args, &args); err != nil {
				in.Reply(ctx, &message.Reply{Failure: &message.Failure{
					Class: "TypeError", Module: "builtins", Message: err.Error(),
				}})
				continue
			}
			result, _ := json.Marshal(args.A + args.B)
			in.Reply(ctx, &message.Reply{Result: result})
		}
	}()

	rep, err := client.Call(ctx, target.Target{Topic: "calculator"}, &message.Request{
		Method: "add",
		Args:   json.RawMessage(`{"a": 2, "b": 3}`),
	})
	if err != nil {
		fmt.Println("call:", err)
	} else {
		fmt.Println("add(a=2, b=3) =", string(rep.Result))
	}

	lis.Stop()
	<-done
	// Output: add(a=2, b=3) = 5
}
