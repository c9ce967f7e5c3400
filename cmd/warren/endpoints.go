package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcerr"
)

// builtinEndpoint returns the methods every server of this command serves,
// in the default namespace at version 1.0, so that warren call and cast
// have something to talk to:
//
//	echo(data)              returns data as it came
//	add(a, b)               returns a + b
//	divide(num1, num2=1)    returns num1 / num2; fails with InvalidOperation when num2 is 0
//	sleep(seconds)          returns seconds after sleeping that long, or fails when the caller's deadline passes
//	fail(message)           fails with a RuntimeError carrying message
//
// A required argument left out fails with TypeError, as in Python.
func builtinEndpoint() *endpoints.Endpoint {
	e := endpoints.New(endpoints.Version("1.0"))
	endpoints.Register(e, "echo", func(_ context.Context, a struct {
		Data json.RawMessage `json:"data"`
	}) (json.RawMessage, error) {
		if a.Data == nil {
			return nil, missingArgs("echo", "data")
		}
		return a.Data, nil
	})
	endpoints.Register(e, "add", func(_ context.Context, a struct {
		A *float64 `json:"a"`
		B *float64 `json:"b"`
	}) (float64, error) {
		var absent []string
		if a.A == nil {
			absent = append(absent, "a")
		}
		if a.B == nil {
			absent = append(absent, "b")
		}
		if len(absent) > 0 {
			return 0, missingArgs("add", absent...)
		}
		return *a.A + *a.B, nil
	})
	endpoints.Register(e, "divide", func(_ context.Context, a struct {
		Num1 *float64 `json:"num1"`
		Num2 *float64 `json:"num2"`
	}) (float64, error) {
		if a.Num1 == nil {
			return 0, missingArgs("divide", "num1")
		}
		divisor := 1.0
		if a.Num2 != nil {
			divisor = *a.Num2
		}
		if divisor == 0 {
			return 0, rpcerr.NewError("InvalidOperation", "invalid operation")
		}
		return *a.Num1 / divisor, nil
	})
	// sleep gives up when its ctx ends: the handler's ctx carries the
	// caller's deadline.
	endpoints.Register(e, "sleep", func(ctx context.Context, a struct {
		Seconds *float64 `json:"seconds"`
	}) (float64, error) {
		if a.Seconds == nil {
			return 0, missingArgs("sleep", "seconds")
		}
		t := time.NewTimer(time.Duration(*a.Seconds * float64(time.Second)))
		defer t.Stop()
		select {
		case <-t.C:
			return *a.Seconds, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	endpoints.Register(e, "fail", func(_ context.Context, a struct {
		Message *string `json:"message"`
	}) (*int, error) {
		if a.Message == nil {
			return nil, missingArgs("fail", "message")
		}
		return nil, &rpcerr.Error{Class: "RuntimeError", Module: "builtins", Message: *a.Message}
	})
	return e
}

// missingArgs is the TypeError Python raises for a call of method without
// its required arguments names: "add() missing 2 required positional
// arguments: 'a' and 'b'".
func missingArgs(method string, names ...string) error {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "'" + n + "'"
	}
	noun := "argument"
	if len(names) > 1 {
		noun = "arguments"
	}
	return &endpoints.ArgumentError{Method: method,
		Err: fmt.Errorf("missing %d required positional %s: %s", len(names), noun, strings.Join(quoted, " and "))}
}
