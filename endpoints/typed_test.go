package endpoints_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcerr"
)

type inner struct {
	C string `json:"c"`
}

type wideArgs struct {
	Name   string         `json:"name"`
	Count  int            `json:"count"`
	Small  int8           `json:"small"`
	Ratio  float64        `json:"ratio"`
	On     bool           `json:"on"`
	Tags   []string       `json:"tags"`
	Inner  inner          `json:"inner"`
	Ptr    *inner         `json:"ptr"`
	Labels map[string]int `json:"labels"`
	When   time.Time      `json:"when"`
	Bytes  []byte         `json:"bytes"`
	Pair   [2]uint        `json:"pair"`
	Str    fmt.Stringer   `json:"str"`
	Plain  int            // no tag: keyword "Plain", or any case of it
	Hidden int            `json:"-"`
}

// echo returns a handler bound to method "echo" that returns its decoded
// argument.
func echo[A any]() endpoints.Handler {
	e := endpoints.New()
	endpoints.Register(e, "echo", func(_ context.Context, a A) (A, error) { return a, nil })
	if err := e.Err(); err != nil {
		panic(err)
	}
	return e.Handler("echo")
}

func TestTypedDecodes(t *testing.T) {
	when := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		h    endpoints.Handler
		args string
		want any
	}{
		{"empty object", echo[wideArgs](), `{}`, wideArgs{}},
		{"no args at all", echo[wideArgs](), ``, wideArgs{}},
		{"all fields", echo[wideArgs](),
			`{"name":"n","count":3,"small":-8,"ratio":0.5,"on":true,"tags":["a"],"inner":{"c":"x"},"ptr":{"c":"y"},"labels":{"k":1},"when":"2024-05-01T12:00:00Z","Plain":4}`,
			wideArgs{Name: "n", Count: 3, Small: -8, Ratio: 0.5, On: true, Tags: []string{"a"}, Inner: inner{C: "x"}, Ptr: &inner{C: "y"}, Labels: map[string]int{"k": 1}, When: when, Plain: 4}},
		{"case-insensitive keywords", echo[wideArgs](), `{"NAME":"n","plain":2}`, wideArgs{Name: "n", Plain: 2}},
		{"nulls leave zero values", echo[wideArgs](), `{"name":null,"ptr":null}`, wideArgs{}},
		{"unknown nested keys are ignored", echo[wideArgs](), `{"inner":{"c":"x","extra":1},"count":2}`, wideArgs{Inner: inner{C: "x"}, Count: 2}},
		{"surrounding whitespace", echo[wideArgs](), " \n{\"count\": 1}\t ", wideArgs{Count: 1}},
		{"struct{} takes {}", echo[struct{}](), `{}`, struct{}{}},
		{"pointer argument", echo[*pair](), `{"x":1,"y":2}`, &pair{X: 1, Y: 2}},
		{"map takes every keyword", echo[map[string]int](), `{"a":1,"b":2}`, map[string]int{"a": 1, "b": 2}},
		{"any takes every keyword", echo[any](), `{"a":[1]}`, map[string]any{"a": []any{json.Number("1")}}},
		{"big integers keep every digit", echo[map[string]any](), `{"n":9007199254740993,"f":3.0}`,
			map[string]any{"n": json.Number("9007199254740993"), "f": json.Number("3.0")}},
		{"raw message", echo[json.RawMessage](), `{"a":1}`, json.RawMessage(`{"a":1}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.h.ServeRPC(context.Background(), json.RawMessage(tt.args))
			if err != nil {
				t.Fatalf("echo(%s) error: %v", tt.args, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("echo(%s) = %#v, want %#v", tt.args, got, tt.want)
			}
		})
	}
}

type color string

func (c *color) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s != "red" && s != "blue" {
		return fmt.Errorf("unknown color %q", s)
	}
	*c = color(s)
	return nil
}

type paintArgs struct {
	Color color `json:"color"`
}

func TestTypedArgumentErrors(t *testing.T) {
	tests := []struct {
		name string
		h    endpoints.Handler
		args string
		want string
	}{
		{"unexpected keyword", echo[pair](), `{"x":1,"y":2,"z":3}`, "echo() got an unexpected keyword argument 'z'"},
		{"first unexpected keyword", echo[pair](), `{"b":1,"a":2}`, "echo() got an unexpected keyword argument 'b'"},
		{"unexpected keyword after nested unknown key", echo[wideArgs](), `{"inner":{"zz":1},"bogus":1}`, "echo() got an unexpected keyword argument 'bogus'"},
		{"ignored field is unexpected", echo[wideArgs](), `{"Hidden":1}`, "echo() got an unexpected keyword argument 'Hidden'"},
		{"struct{} takes nothing", echo[struct{}](), `{"x":1}`, "echo() got an unexpected keyword argument 'x'"},
		{"pointer argument checks keywords", echo[*pair](), `{"q":1}`, "echo() got an unexpected keyword argument 'q'"},
		{"escaped keyword", echo[pair](), `{"\u00e9t\u00e9":1}`, "echo() got an unexpected keyword argument 'été'"},
		{"str for int", echo[pair](), `{"x":"1"}`, "echo() argument 'x' must be int, not str"},
		{"float for int", echo[pair](), `{"x":1.5}`, "echo() argument 'x' must be int, not float"},
		{"exponent for int", echo[pair](), `{"x":1e3}`, "echo() argument 'x' must be int, not float"},
		{"out of range", echo[wideArgs](), `{"small":300}`, "echo() argument 'small' value 300 is out of range for int8"},
		{"int for str", echo[wideArgs](), `{"name":5}`, "echo() argument 'name' must be str, not number"},
		{"list for str", echo[wideArgs](), `{"name":[]}`, "echo() argument 'name' must be str, not list"},
		{"dict for list", echo[wideArgs](), `{"tags":{}}`, "echo() argument 'tags' must be list, not dict"},
		{"bool for float", echo[wideArgs](), `{"ratio":true}`, "echo() argument 'ratio' must be float, not bool"},
		{"dict for bytes", echo[wideArgs](), `{"bytes":{}}`, "echo() argument 'bytes' must be str, not dict"},
		{"str for array", echo[wideArgs](), `{"pair":"ab"}`, "echo() argument 'pair' must be list, not str"},
		{"negative for uint", echo[wideArgs](), `{"pair":[1,-1]}`, "echo() argument 'pair' value -1 is out of range for uint"},
		{"list for map", echo[wideArgs](), `{"labels":[]}`, "echo() argument 'labels' must be dict, not list"},
		{"map of pointers", echo[map[string]*int8](), `{"a":null,"b":"x"}`, "echo() keyword argument must be int, not str"},
		{"value for interface", echo[wideArgs](), `{"str":1}`, "echo() argument 'str' must be fmt.Stringer, not number"},
		{"list element", echo[wideArgs](), `{"tags":["a",1]}`, "echo() argument 'tags' must be str, not number"},
		{"nested field", echo[wideArgs](), `{"inner":{"c":false}}`, "echo() argument 'inner.c' must be str, not bool"},
		{"map value", echo[map[string]int](), `{"a":"x"}`, "echo() keyword argument must be int, not str"},
		{"type error after nested unknown key", echo[wideArgs](), `{"inner":{"zz":1},"count":"x"}`, "echo() argument 'count' must be int, not str"},
		{"list for struct", echo[pair](), `[1,2]`, "echo() argument after ** must be a mapping, not list"},
		{"string for struct", echo[pair](), `"x"`, "echo() argument after ** must be a mapping, not str"},
		{"number for map", echo[map[string]int](), `7`, "echo() argument after ** must be a mapping, not int"},
		{"invalid JSON", echo[pair](), `{"x":`, "echo() keyword arguments are not valid JSON"},
		{"trailing data", echo[pair](), `{"x":1} {}`, "echo() keyword arguments are not valid JSON"},
		{"invalid JSON for map", echo[map[string]int](), `{`, "echo() keyword arguments are not valid JSON"},
		{"null for struct", echo[pair](), `null`, "echo() argument after ** must be a mapping, not NoneType"},
		{"float for any", echo[any](), ` 1.5`, "echo() argument after ** must be a mapping, not float"},
		{"list for raw message", echo[json.RawMessage](), `[]`, "echo() argument after ** must be a mapping, not list"},
		{"blank", echo[pair](), ` `, "echo() argument after ** must be a mapping, not NoneType"},
		{"own UnmarshalJSON fails", echo[paintArgs](), `{"color":"green"}`, `echo() got invalid keyword arguments: unknown color "green"`},
		{"time field", echo[wideArgs](), `{"when":"yesterday"}`, `echo() got invalid keyword arguments: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.h.ServeRPC(context.Background(), json.RawMessage(tt.args))
			var ae *endpoints.ArgumentError
			if !errors.As(err, &ae) {
				t.Fatalf("echo(%s) = %v, %v; want an *ArgumentError", tt.args, got, err)
			}
			if ae.Method != "echo" {
				t.Errorf("ArgumentError.Method = %q, want echo", ae.Method)
			}
			if err.Error() != tt.want {
				t.Errorf("echo(%s) error = %q, want %q", tt.args, err, tt.want)
			}
			if class, module := ae.ExceptionClass(); class != "TypeError" || module != "builtins" {
				t.Errorf("ExceptionClass() = %q, %q; want TypeError, builtins", class, module)
			}
		})
	}
}

func TestTypedArgumentErrorUnwrapsDecodeError(t *testing.T) {
	_, err := echo[pair]().ServeRPC(context.Background(), json.RawMessage(`{"x":"1"}`))
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field != "x" {
		t.Errorf("errors.As(%v, *json.UnmarshalTypeError) = %v, want the decoding error for x", err, te)
	}
	_, err = echo[paintArgs]().ServeRPC(context.Background(), json.RawMessage(`{"color":"green"}`))
	var ae *endpoints.ArgumentError
	if !errors.As(err, &ae) || errors.Unwrap(ae.Err) == nil {
		t.Errorf("ArgumentError %v does not wrap the UnmarshalJSON error", err)
	}
}

func TestTypedUnregistered(t *testing.T) {
	h := endpoints.Typed(add)
	res, err := h.ServeRPC(context.Background(), json.RawMessage(`{"x":1,"y":2}`))
	if err != nil || res != 3 {
		t.Fatalf("Typed(add)(x=1, y=2) = %v, %v; want 3, nil", res, err)
	}
	_, err = h.ServeRPC(context.Background(), json.RawMessage(`{"w":1}`))
	if want := "got an unexpected keyword argument 'w'"; err == nil || err.Error() != want {
		t.Errorf("Typed(add)(w=1) error = %v, want %q", err, want)
	}
}

func TestTypedHandlerError(t *testing.T) {
	boom := rpcerr.NewError("Boom", "it broke")
	h := endpoints.Typed(func(context.Context, pair) (*pair, error) { return &pair{}, boom })
	res, err := h.ServeRPC(context.Background(), json.RawMessage(`{}`))
	if res != nil || err != boom {
		t.Errorf("ServeRPC = %v, %v; want nil, %v", res, err, boom)
	}
}

func TestTypedPassesContext(t *testing.T) {
	type key struct{}
	h := endpoints.Typed(func(ctx context.Context, _ struct{}) (any, error) { return ctx.Value(key{}), nil })
	res, err := h.ServeRPC(context.WithValue(context.Background(), key{}, "v"), json.RawMessage(`{}`))
	if err != nil || res != "v" {
		t.Errorf("ServeRPC = %v, %v; want the ctx value v", res, err)
	}
}
