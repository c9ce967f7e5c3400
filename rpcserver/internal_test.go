package rpcserver

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/message"
)

func TestHeartbeatInterval(t *testing.T) {
	tests := []struct {
		callMonitor, want time.Duration
	}{
		{0, 0},
		{time.Second, 0},
		{1900 * time.Millisecond, 0},
		{2 * time.Second, time.Second},
		{2500 * time.Millisecond, time.Second},
		{3 * time.Second, 1500 * time.Millisecond},
		{60 * time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := heartbeatInterval(tt.callMonitor); got != tt.want {
			t.Errorf("heartbeatInterval(%v) = %v, want %v", tt.callMonitor, got, tt.want)
		}
	}
}

type classed struct{}

func (classed) Error() string                    { return "teapot" }
func (classed) ExceptionClass() (string, string) { return "Teapot", "kitchen" }

func TestFailureOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want message.Failure
	}{
		{name: "plain", err: errors.New("boom"),
			want: message.Failure{Class: "RuntimeError", Module: "builtins", Message: "boom", Traceback: []string{}, Args: []any{"boom"}, Kwargs: map[string]any{}}},
		{name: "endpoints error", err: &endpoints.Error{Class: "NotFound", Module: "inv", Message: "gone", Args: []any{1}, Kwargs: map[string]any{"k": "v"}},
			want: message.Failure{Class: "NotFound", Module: "inv", Message: "gone", Traceback: []string{}, Args: []any{1}, Kwargs: map[string]any{"k": "v"}}},
		{name: "wrapped endpoints error", err: fmt.Errorf("outer: %w", endpoints.NewError("Conflict", "taken")),
			want: message.Failure{Class: "Conflict", Module: "warren", Message: "taken", Traceback: []string{}, Args: []any{"taken"}, Kwargs: map[string]any{}}},
		{name: "classed", err: fmt.Errorf("outer: %w", classed{}),
			want: message.Failure{Class: "Teapot", Module: "kitchen", Message: "teapot", Traceback: []string{}, Args: []any{"teapot"}, Kwargs: map[string]any{}}},
		{name: "argument error", err: &endpoints.ArgumentError{Method: "divide", Err: errors.New("got an unexpected keyword argument 'x'")},
			want: message.Failure{Class: "TypeError", Module: "builtins", Message: "divide() got an unexpected keyword argument 'x'", Traceback: []string{},
				Args: []any{"divide() got an unexpected keyword argument 'x'"}, Kwargs: map[string]any{}}},
		{name: "panic", err: &panicError{value: "oops", stack: []byte("goroutine 1:\nmain.f()\n")},
			want: message.Failure{Class: "RuntimeError", Module: "builtins", Message: "panic: oops", Traceback: []string{"goroutine 1:\n", "main.f()\n"},
				Args: []any{"panic: oops"}, Kwargs: map[string]any{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failureOf(tt.err); !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("failureOf(%v) = %+v, want %+v", tt.err, *got, tt.want)
			}
		})
	}
}
