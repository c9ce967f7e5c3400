package calc

import (
	"context"
	"fmt"
	"strings"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcerr"
)

// Topic is the topic calculator servers listen on.
const Topic = "calculator"

// DivideArgs are the keyword arguments of divide. Pointers tell a missing
// argument from a zero one.
type DivideArgs struct {
	// Num1 is the dividend. Required.
	Num1 *float64 `json:"num1"`
	// Num2 is the divisor. Nil means 1.
	Num2 *float64 `json:"num2"`
}

// AddArgs are the keyword arguments of add.
type AddArgs struct {
	// A is the first addend. Required.
	A *float64 `json:"a"`
	// B is the second addend. Required.
	B *float64 `json:"b"`
}

// Divide returns num1 / num2, with num2 defaulting to 1. A zero num2 fails
// with the exception InvalidOperation, "invalid operation"; a missing num1
// with a TypeError as Python raises it.
func Divide(_ context.Context, args DivideArgs) (float64, error) {
	if args.Num1 == nil {
		return 0, missing("divide", "num1")
	}
	num2 := 1.0
	if args.Num2 != nil {
		num2 = *args.Num2
	}
	if num2 == 0 {
		return 0, rpcerr.NewError("InvalidOperation", "invalid operation")
	}
	return *args.Num1 / num2, nil
}

// Add returns a + b. A missing argument fails with a TypeError as Python
// raises it.
func Add(_ context.Context, args AddArgs) (float64, error) {
	var absent []string
	if args.A == nil {
		absent = append(absent, "a")
	}
	if args.B == nil {
		absent = append(absent, "b")
	}
	if len(absent) > 0 {
		return 0, missing("add", absent...)
	}
	return *args.A + *args.B, nil
}

// missing returns the TypeError Python raises when method is called without
// the required arguments names, such as "add() missing 2 required
// positional arguments: 'a' and 'b'".
func missing(method string, names ...string) error {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "'" + n + "'"
	}
	var list string
	switch len(quoted) {
	case 1:
		list = quoted[0]
	case 2:
		list = quoted[0] + " and " + quoted[1]
	default:
		list = strings.Join(quoted[:len(quoted)-1], ", ") + ", and " + quoted[len(quoted)-1]
	}
	noun := "argument"
	if len(names) > 1 {
		noun = "arguments"
	}
	return &endpoints.ArgumentError{
		Method: method,
		Err:    fmt.Errorf("missing %d required positional %s: %s", len(names), noun, list),
	}
}

type options struct {
	server string
}

// Option changes what Endpoint serves.
type Option func(*options)

// ServerName adds the method whoami, which returns name: callers can see
// which server answered.
func ServerName(name string) Option {
	return func(o *options) { o.server = name }
}

// Endpoint returns the calculator endpoint, in the default namespace at
// version 1.0: divide and add, and whoami when ServerName is given.
func Endpoint(opts ...Option) *endpoints.Endpoint {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	e := endpoints.New(endpoints.Version("1.0"))
	endpoints.Register(e, "divide", Divide)
	endpoints.Register(e, "add", Add)
	if o.server != "" {
		name := o.server
		endpoints.Register(e, "whoami", func(context.Context, struct{}) (string, error) {
			return name, nil
		})
	}
	return e
}
