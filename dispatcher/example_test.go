package dispatcher_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcerr"
)

type DivideArgs struct {
	X int `json:"x"`
	Y int `json:"y"`
}

func Example() {
	calc := endpoints.New(endpoints.Namespace("calc"), endpoints.Version("1.3"))
	endpoints.Register(calc, "divide", func(_ context.Context, a DivideArgs) (int, error) {
		if a.Y == 0 {
			return 0, rpcerr.NewError("ZeroDivisionError", "division by zero")
		}
		return a.X / a.Y, nil
	})
	d, err := dispatcher.New([]*endpoints.Endpoint{calc})
	if err != nil {
		fmt.Println(err)
		return
	}

	requests := []dispatcher.Request{
		{Method: "divide", Namespace: "calc", Version: "1.2", Args: json.RawMessage(`{"x": 9, "y": 3}`)},
		{Method: "divide", Namespace: "calc", Version: "1.2", Args: json.RawMessage(`{"x": 9, "y": 0}`)},
		{Method: "divide", Namespace: "calc", Args: json.RawMessage(`{"x": 9, "z": 3}`)},
		{Method: "multiply", Namespace: "calc"},
		{Method: "divide", Namespace: "calc", Version: "2.0"},
		{Method: endpoints.PingMethod},
	}
	for _, req := range requests {
		res, err := d.Dispatch(context.Background(), &req)
		if c, ok := err.(rpcerr.Classed); ok {
			class, _ := c.ExceptionClass()
			fmt.Printf("%s: %v\n", class, err)
			continue
		}
		fmt.Printf("%s\n", res)
	}
	// Output:
	// 3
	// ZeroDivisionError: division by zero
	// TypeError: divide() got an unexpected keyword argument 'z'
	// NoSuchMethod: Endpoint does not support RPC method multiply
	// UnsupportedVersion: Endpoint does not support RPC version 2.0. Attempted method: divide
	// "pong"
}

func ExampleInterceptors() {
	logCalls := func(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (any, error) {
		res, err := next(ctx, req)
		fmt.Printf("called %s: %v, %v\n", req.Method, res, err)
		return res, err
	}
	deadline := func(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (any, error) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return next(ctx, req)
	}
	ep := endpoints.New()
	endpoints.Register(ep, "hello", func(_ context.Context, a struct{ Name string }) (string, error) {
		return "hello " + a.Name, nil
	})
	d, err := dispatcher.New([]*endpoints.Endpoint{ep}, dispatcher.Interceptors(logCalls, deadline))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: "hello", Args: json.RawMessage(`{"name": "bob"}`)})
	fmt.Printf("%s %v\n", res, err)
	// Output:
	// called hello: hello bob, <nil>
	// "hello bob" <nil>
}

func ExampleNoSuchMethodError() {
	d, err := dispatcher.New(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = d.Dispatch(context.Background(), &dispatcher.Request{Method: "reboot"})
	var nsm *dispatcher.NoSuchMethodError
	fmt.Println(errors.Is(err, rpcerr.ErrNoSuchMethod), errors.As(err, &nsm), nsm.Method)
	class, module := nsm.ExceptionClass()
	fmt.Println(module + "." + class + ": " + err.Error())
	// Output:
	// true true reboot
	// oslo_messaging.rpc.dispatcher.NoSuchMethod: Endpoint does not support RPC method reboot
}
