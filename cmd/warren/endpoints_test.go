package main

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcerr"
)

func TestBuiltinEndpoint(t *testing.T) {
	d, err := dispatcher.New([]*endpoints.Endpoint{builtinEndpoint()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, args string
		want         string // the JSON result, when no error
		wantClass    string // the exception class of the error
		wantMsg      string
	}{
		{method: "echo", args: `{"data": {"a": [1, 9007199254740993]}}`, want: `{"a":[1,9007199254740993]}`},
		{method: "echo", args: `{}`, wantClass: "TypeError", wantMsg: "echo() missing 1 required positional argument: 'data'"},
		{method: "add", args: `{"a": 2, "b": 3.5}`, want: `5.5`},
		{method: "add", args: `{}`, wantClass: "TypeError", wantMsg: "add() missing 2 required positional arguments: 'a' and 'b'"},
		{method: "divide", args: `{"num1": 7, "num2": 2}`, want: `3.5`},
		{method: "divide", args: `{"num1": 9}`, want: `9`},
		{method: "divide", args: `{"num1": 1, "num2": 0}`, wantClass: "InvalidOperation", wantMsg: "invalid operation"},
		{method: "divide", args: `{"num2": 1}`, wantClass: "TypeError", wantMsg: "divide() missing 1 required positional argument: 'num1'"},
		{method: "sleep", args: `{"seconds": 0.001}`, want: `0.001`},
		{method: "fail", args: `{"message": "disk full"}`, wantClass: "RuntimeError", wantMsg: "disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.args, func(t *testing.T) {
			res, err := d.Dispatch(t.Context(), &dispatcher.Request{Method: tt.method, Args: json.RawMessage(tt.args)})
			if tt.wantClass == "" {
				if err != nil || string(res) != tt.want {
					t.Errorf("%s(%s) = %s, %v; want %s", tt.method, tt.args, res, err, tt.want)
				}
				return
			}
			f := rpcerr.FailureOf(err)
			if err == nil || f.Class != tt.wantClass || f.Message != tt.wantMsg {
				t.Errorf("%s(%s) = %s, %v; want %s: %s", tt.method, tt.args, res, err, tt.wantClass, tt.wantMsg)
			}
		})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := d.Dispatch(ctx, &dispatcher.Request{Method: "sleep", Args: json.RawMessage(`{"seconds": 60}`)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("sleep(60) with a 50ms deadline = %v, want DeadlineExceeded", err)
	}
}
