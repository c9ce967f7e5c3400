package calc_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/warrenrpc/warren/examples/calculator/calc"
	"github.com/warrenrpc/warren/rpcerr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEndpointMethods(t *testing.T) {
	tests := []struct {
		name string
		opts []calc.Option
		want []string
	}{
		{"plain", nil, []string{"add", "divide"}},
		{"with server name", []calc.Option{calc.ServerName("calc-1")}, []string{"add", "divide", "whoami"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := calc.Endpoint(tt.opts...)
			if err := e.Err(); err != nil {
				t.Fatalf("Endpoint().Err() = %v", err)
			}
			if got := e.Methods(); !slices.Equal(got, tt.want) {
				t.Errorf("Endpoint().Methods() = %v, want %v", got, tt.want)
			}
			if got := e.VersionString(); got != "1.0" {
				t.Errorf("Endpoint().VersionString() = %q, want 1.0", got)
			}
		})
	}
}

func TestMethods(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		args      string
		want      any
		wantClass string // exception class of the error; "" means success
		wantMsg   string
	}{
		{"divide", "divide", `{"num1": 200, "num2": 100}`, 2.0, "", ""},
		{"divide fraction", "divide", `{"num1": 7, "num2": 2}`, 3.5, "", ""},
		{"divide default num2", "divide", `{"num1": 9}`, 9.0, "", ""},
		{"divide negative", "divide", `{"num1": -6, "num2": 4}`, -1.5, "", ""},
		{"divide by zero", "divide", `{"num1": 1, "num2": 0}`, nil, "InvalidOperation", "invalid operation"},
		{"divide zero by zero", "divide", `{"num1": 0, "num2": 0}`, nil, "InvalidOperation", "invalid operation"},
		{"divide without num1", "divide", `{"num2": 3}`, nil, "TypeError",
			"divide() missing 1 required positional argument: 'num1'"},
		{"divide unknown keyword", "divide", `{"num1": 1, "x": 2}`, nil, "TypeError",
			"divide() got an unexpected keyword argument 'x'"},
		{"divide string", "divide", `{"num1": "1"}`, nil, "TypeError", ""},
		{"add", "add", `{"a": 2, "b": 3}`, 5.0, "", ""},
		{"add floats", "add", `{"a": 0.5, "b": -2}`, -1.5, "", ""},
		{"add without b", "add", `{"a": 2}`, nil, "TypeError",
			"add() missing 1 required positional argument: 'b'"},
		{"add without arguments", "add", `{}`, nil, "TypeError",
			"add() missing 2 required positional arguments: 'a' and 'b'"},
		{"whoami", "whoami", `{}`, "calc-7", "", ""},
		{"whoami with argument", "whoami", `{"who": 1}`, nil, "TypeError",
			"whoami() got an unexpected keyword argument 'who'"},
	}
	e := calc.Endpoint(calc.ServerName("calc-7"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := e.Handler(tt.method)
			if h == nil {
				t.Fatalf("no handler for %s", tt.method)
			}
			got, err := h.ServeRPC(context.Background(), json.RawMessage(tt.args))
			if tt.wantClass == "" {
				if err != nil || got != tt.want {
					t.Errorf("%s(%s) = %v, %v; want %v, nil", tt.method, tt.args, got, err, tt.want)
				}
				return
			}
			var c rpcerr.Classed
			if !errors.As(err, &c) {
				t.Fatalf("%s(%s) = %v, %v; want an error of class %s", tt.method, tt.args, got, err, tt.wantClass)
			}
			if class, _ := c.ExceptionClass(); class != tt.wantClass {
				t.Errorf("%s(%s) error class = %s, want %s", tt.method, tt.args, class, tt.wantClass)
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("%s(%s) error = %q, want %q", tt.method, tt.args, err, tt.wantMsg)
			}
		})
	}
}

func TestDivideByZeroIsWarrenError(t *testing.T) {
	num1, num2 := 1.0, 0.0
	_, err := calc.Divide(context.Background(), calc.DivideArgs{Num1: &num1, Num2: &num2})
	var e *rpcerr.Error
	if !errors.As(err, &e) {
		t.Fatalf("Divide(1, 0) = %v, want an *rpcerr.Error", err)
	}
	if class, module := e.ExceptionClass(); class != "InvalidOperation" || module != "warren" {
		t.Errorf("Divide(1, 0) error is %s.%s, want warren.InvalidOperation", module, class)
	}
}
