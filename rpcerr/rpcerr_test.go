package rpcerr_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/rpcerr"
)

type classed struct{}

func (classed) Error() string                    { return "teapot" }
func (classed) ExceptionClass() (string, string) { return "Teapot", "kitchen" }

// Conflict is a service's error type with fields.
type Conflict struct {
	Name  string `json:"name"`
	Owner string `json:"owner,omitempty"`
	Count int64  `json:"count"`
}

func (e *Conflict) Error() string                    { return e.Name + " is taken" }
func (e *Conflict) ExceptionClass() (string, string) { return "Conflict", "inventory.errors" }

// builtinWithFields names a builtins class: its fields must not travel,
// since Python's builtin exceptions take no keyword arguments.
type builtinWithFields struct{ Key string }

func (builtinWithFields) Error() string                    { return "missing" }
func (builtinWithFields) ExceptionClass() (string, string) { return "KeyError", "builtins" }

func TestFailureOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want message.Failure
	}{
		{name: "plain", err: errors.New("boom"),
			want: message.Failure{Class: "RuntimeError", Module: "builtins", Message: "boom", Traceback: []string{}, Args: []any{"boom"}, Kwargs: map[string]any{}}},
		{name: "error", err: &rpcerr.Error{Class: "NotFound", Module: "inv", Message: "gone", Args: []any{1}, Kwargs: map[string]any{"k": "v"}},
			want: message.Failure{Class: "NotFound", Module: "inv", Message: "gone", Traceback: []string{}, Args: []any{1}, Kwargs: map[string]any{"k": "v"}}},
		{name: "wrapped error", err: fmt.Errorf("outer: %w", rpcerr.NewError("Conflict", "taken")),
			want: message.Failure{Class: "Conflict", Module: "warren", Message: "taken", Traceback: []string{}, Args: []any{"taken"}, Kwargs: map[string]any{}}},
		{name: "classed without fields", err: fmt.Errorf("outer: %w", classed{}),
			want: message.Failure{Class: "Teapot", Module: "kitchen", Message: "teapot", Traceback: []string{}, Args: []any{"teapot"}, Kwargs: map[string]any{}}},
		{name: "classed with fields", err: &Conflict{Name: "db1", Count: 9007199254740993},
			want: message.Failure{Class: "Conflict", Module: "inventory.errors", Message: "db1 is taken", Traceback: []string{}, Args: []any{"db1 is taken"},
				Kwargs: map[string]any{"name": "db1", "count": json.Number("9007199254740993")}}},
		{name: "builtins class keeps no fields", err: builtinWithFields{Key: "k"},
			want: message.Failure{Class: "KeyError", Module: "builtins", Message: "missing", Traceback: []string{}, Args: []any{"missing"}, Kwargs: map[string]any{}}},
		{name: "panic", err: &rpcerr.PanicError{Value: "oops", Stack: []byte("goroutine 1:\nmain.f()\n")},
			want: message.Failure{Class: "RuntimeError", Module: "builtins", Message: "panic: oops", Traceback: []string{"goroutine 1:\n", "main.f()\n"},
				Args: []any{"panic: oops"}, Kwargs: map[string]any{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rpcerr.FailureOf(tt.err); !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("FailureOf(%v) = %+v, want %+v", tt.err, *got, tt.want)
			}
		})
	}
}

func TestConditionsMatch(t *testing.T) {
	tests := []struct {
		class, module string
		want          error
	}{
		{"NoSuchMethod", rpcerr.DispatcherModule, rpcerr.ErrNoSuchMethod},
		{"UnsupportedVersion", rpcerr.DispatcherModule, rpcerr.ErrUnsupportedVersion},
		{rpcerr.ClassServerShuttingDown, rpcerr.Module, rpcerr.ErrServerShuttingDown},
		{rpcerr.ClassMessageTooLarge, rpcerr.Module, rpcerr.ErrReplyTooLarge},
		{"NoSuchMethod", "myservice", nil},
		{"ValueError", "builtins", nil},
	}
	all := []error{rpcerr.ErrNoSuchMethod, rpcerr.ErrUnsupportedVersion, rpcerr.ErrServerShuttingDown, rpcerr.ErrReplyTooLarge}
	for _, tt := range tests {
		remote := rpcerr.FromFailure(&message.Failure{Class: tt.class, Module: tt.module}, nil)
		local := &rpcerr.Error{Class: tt.class, Module: tt.module}
		for _, sentinel := range all {
			want := sentinel == tt.want
			if got := errors.Is(remote, sentinel); got != want {
				t.Errorf("errors.Is(remote %s.%s, %v) = %v, want %v", tt.module, tt.class, sentinel, got, want)
			}
			if got := errors.Is(local, sentinel); got != want {
				t.Errorf("errors.Is(&Error{%s.%s}, %v) = %v, want %v", tt.module, tt.class, sentinel, got, want)
			}
		}
	}
}

func TestFromFailure(t *testing.T) {
	reg, err := rpcerr.NewRegistry(&Conflict{})
	if err != nil {
		t.Fatal(err)
	}
	f := rpcerr.FailureOf(&Conflict{Name: "db1", Owner: "ann", Count: 9007199254740993})
	e := rpcerr.FromFailure(f, reg)
	var c *Conflict
	if !errors.As(e, &c) || *c != (Conflict{Name: "db1", Owner: "ann", Count: 9007199254740993}) {
		t.Errorf("FromFailure(Conflict) unwraps to %#v, want the fields sent", c)
	}
	if e.Error() != "remote Conflict: db1 is taken" {
		t.Errorf("Error() = %q", e.Error())
	}
	if e := rpcerr.FromFailure(f, nil); e.Err != nil {
		t.Errorf("FromFailure without a registry rebuilt %#v", e.Err)
	}
	py2 := rpcerr.FromFailure(&message.Failure{Class: "ValueError", Module: "exceptions"}, nil)
	if py2.Module != "builtins" || py2.Error() != "remote ValueError" {
		t.Errorf("FromFailure(exceptions.ValueError) = %s.%s %q, want builtins", py2.Module, py2.Class, py2.Error())
	}
	// kwargs that do not fit the type leave Err nil rather than half-filled.
	bad := rpcerr.FromFailure(&message.Failure{Class: "Conflict", Module: "inventory.errors", Kwargs: map[string]any{"count": "many"}}, reg)
	if bad.Err != nil {
		t.Errorf("FromFailure(count: \"many\") rebuilt %#v, want none", bad.Err)
	}
	// A registered class without kwargs still unwraps to its type.
	bare := rpcerr.FromFailure(&message.Failure{Class: "Conflict", Module: "inventory.errors"}, reg)
	if !errors.As(bare, &c) || c.Name != "" {
		t.Errorf("FromFailure(no kwargs) unwraps to %#v, want a zero *Conflict", bare.Err)
	}
}

// FuzzFromFailure rebuilds registered errors from arbitrary kwargs, as a
// client does with what a server sent: it must never panic, and a rebuilt
// error is always of the registered type.
func FuzzFromFailure(f *testing.F) {
	for _, s := range []string{`{}`, `{"name":"x","count":1}`, `{"count":1e400}`, `{"count":"1"}`, `{"name":null}`, `{"Name":[1]}`} {
		f.Add("Conflict", "inventory.errors", s)
	}
	reg, err := rpcerr.NewRegistry(&Conflict{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, class, module, kwargs string) {
		var m map[string]any
		if json.Unmarshal([]byte(kwargs), &m) != nil {
			return
		}
		e := rpcerr.FromFailure(&message.Failure{Class: class, Module: module, Kwargs: m}, reg)
		if e.Err == nil {
			return
		}
		if _, ok := e.Err.(*Conflict); !ok || class != "Conflict" || module != "inventory.errors" {
			t.Fatalf("FromFailure(%s.%s, %s) rebuilt %T", module, class, kwargs, e.Err)
		}
	})
}
