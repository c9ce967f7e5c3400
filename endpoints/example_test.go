package endpoints_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcerr"
)

type DivideArgs struct {
	X int `json:"x"`
	Y int `json:"y"`
}

func ExampleRegister() {
	ep := endpoints.New(endpoints.Namespace("calc"), endpoints.Version("1.3"))
	endpoints.Register(ep, "divide", func(_ context.Context, a DivideArgs) (int, error) {
		if a.Y == 0 {
			return 0, rpcerr.NewError("ZeroDivisionError", "division by zero")
		}
		return a.X / a.Y, nil
	})
	if err := ep.Err(); err != nil {
		fmt.Println(err)
		return
	}

	divide := ep.Handler("divide")
	for _, args := range []string{`{"x": 7, "y": 2}`, `{"x": 7, "y": 0}`, `{"x": 7, "z": 2}`} {
		res, err := divide.ServeRPC(context.Background(), json.RawMessage(args))
		if c, ok := err.(rpcerr.Classed); ok {
			class, module := c.ExceptionClass()
			fmt.Printf("%s -> %s.%s: %v\n", args, module, class, err)
			continue
		}
		fmt.Printf("%s -> %v\n", args, res)
	}
	// Output:
	// {"x": 7, "y": 2} -> 3
	// {"x": 7, "y": 0} -> warren.ZeroDivisionError: division by zero
	// {"x": 7, "z": 2} -> builtins.TypeError: divide() got an unexpected keyword argument 'z'
}

// Inventory is a service object: each exported method is an RPC method.
type Inventory struct{ stock map[string]int }

type ItemArgs struct {
	Item string `json:"item"`
}

// GetStock returns how many of an item are in stock.
func (inv *Inventory) GetStock(_ context.Context, a ItemArgs) (int, error) {
	n, ok := inv.stock[a.Item]
	if !ok {
		return 0, &rpcerr.Error{Class: "NotFound", Module: "inventory.errors", Message: "no item " + a.Item}
	}
	return n, nil
}

// ListItems returns the items in stock.
func (inv *Inventory) ListItems(context.Context, struct{}) ([]string, error) {
	return []string{"apple", "pear"}, nil
}

func ExampleFromObject() {
	ep := endpoints.FromObject(&Inventory{stock: map[string]int{"apple": 3, "pear": 0}})
	if err := ep.Err(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ep.Methods())
	res, err := ep.Handler("get_stock").ServeRPC(context.Background(), json.RawMessage(`{"item": "apple"}`))
	fmt.Println(res, err)
	_, err = ep.Handler("get_stock").ServeRPC(context.Background(), json.RawMessage(`{"item": "plum"}`))
	fmt.Println(err)
	// Output:
	// [get_stock list_items]
	// 3 <nil>
	// no item plum
}

func ExampleRequestContext() {
	h := endpoints.Typed(func(ctx context.Context, _ struct{}) (string, error) {
		return fmt.Sprint("hello ", endpoints.RequestContext(ctx)["user_name"]), nil
	})
	ctx := endpoints.WithRequestContext(context.Background(), map[string]any{"user_name": "alice"})
	res, err := h.ServeRPC(ctx, json.RawMessage(`{}`))
	fmt.Println(res, err)
	// Output: hello alice <nil>
}
