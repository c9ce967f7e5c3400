package endpoints_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcerr"
)

type calc struct{ calls int }

type divideArgs struct {
	X int `json:"x"`
	Y int `json:"y"`
}

func (c *calc) Divide(_ context.Context, a divideArgs) (int, error) {
	c.calls++
	if a.Y == 0 {
		return 0, rpcerr.NewError("ZeroDivisionError", "division by zero")
	}
	return a.X / a.Y, nil
}

func (c *calc) GetStats(context.Context, struct{}) (map[string]int, error) {
	return map[string]int{"calls": c.calls}, nil
}

func (c *calc) HTTPStatus(_ context.Context, a *divideArgs) (*divideArgs, error) { return a, nil }

// unexported is not served: FromObject takes exported methods only.
//
//lint:ignore U1000 present to show that FromObject skips it.
func (c *calc) unexported(context.Context, struct{}) (int, error) { return 0, nil }

func TestFromObject(t *testing.T) {
	c := &calc{}
	e := endpoints.FromObject(c, endpoints.Namespace("calc"), endpoints.Version("2.1"))
	if err := e.Err(); err != nil {
		t.Fatalf("Err() = %v", err)
	}
	if got, want := e.Methods(), []string{"divide", "get_stats", "http_status"}; !slices.Equal(got, want) {
		t.Fatalf("Methods() = %q, want %q", got, want)
	}
	if e.NamespaceName() != "calc" || e.VersionString() != "2.1" {
		t.Errorf("namespace, version = %q, %q; want calc, 2.1", e.NamespaceName(), e.VersionString())
	}
	ctx := context.Background()
	tests := []struct {
		method, args string
		want         string // JSON of the result
		wantErr      string
	}{
		{method: "divide", args: `{"x":7,"y":2}`, want: `3`},
		{method: "divide", args: `{"x":1,"y":0}`, wantErr: "division by zero"},
		{method: "divide", args: `{"x":1,"z":0}`, wantErr: "divide() got an unexpected keyword argument 'z'"},
		{method: "divide", args: `{"x":"1"}`, wantErr: "divide() argument 'x' must be int, not str"},
		{method: "divide", args: `[]`, wantErr: "divide() argument after ** must be a mapping, not list"},
		{method: "get_stats", args: `{}`, want: `{"calls":2}`},
		{method: "get_stats", args: `{"verbose":true}`, wantErr: "get_stats() got an unexpected keyword argument 'verbose'"},
		{method: "http_status", args: `{"x":5}`, want: `{"x":5,"y":0}`},
	}
	for _, tt := range tests {
		res, err := e.Handler(tt.method).ServeRPC(ctx, json.RawMessage(tt.args))
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%s(%s) = %v, %v; want error %q", tt.method, tt.args, res, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s(%s) error: %v", tt.method, tt.args, err)
			continue
		}
		b, _ := json.Marshal(res)
		if string(b) != tt.want {
			t.Errorf("%s(%s) = %s, want %s", tt.method, tt.args, b, tt.want)
		}
	}
}

func TestFromObjectErrorClassSurvives(t *testing.T) {
	e := endpoints.FromObject(&calc{})
	_, err := e.Handler("divide").ServeRPC(context.Background(), json.RawMessage(`{"x":1,"y":0}`))
	var ee *rpcerr.Error
	if !errors.As(err, &ee) || ee.Class != "ZeroDivisionError" {
		t.Errorf("divide by zero error = %#v, want *rpcerr.Error ZeroDivisionError", err)
	}
}

func TestFromObjectNilResultError(t *testing.T) {
	e := endpoints.FromObject(nilErr{})
	res, err := e.Handler("get").ServeRPC(context.Background(), json.RawMessage(`{}`))
	if b, _ := json.Marshal(res); err != nil || string(b) != "null" {
		t.Errorf("get() = %s, %v; want null, nil", b, err)
	}
}

type nilErr struct{}

func (nilErr) Get(context.Context, struct{}) (*int, error) { return nil, nil }

type (
	noCtx       struct{}
	oneArg      struct{}
	threeArgs   struct{}
	noError     struct{}
	oneResult   struct{}
	variadic    struct{}
	intArg      struct{}
	otherCtx    struct{}
	duplicate   struct{}
	mixed       struct{}
	ptrReceiver struct{}
	empty       struct{}
)

func (noCtx) Do(int, struct{}) (int, error)                                    { return 0, nil }
func (oneArg) Do(context.Context) (int, error)                                 { return 0, nil }
func (threeArgs) Do(context.Context, struct{}, int) (int, error)               { return 0, nil }
func (noError) Do(context.Context, struct{}) (int, int)                        { return 0, 0 }
func (oneResult) Do(context.Context, struct{}) error                           { return nil }
func (variadic) Do(context.Context, ...struct{}) (int, error)                  { return 0, nil }
func (intArg) Do(context.Context, int) (int, error)                            { return 0, nil }
func (otherCtx) Do(interface{ Done() <-chan struct{} }, struct{}) (int, error) { return 0, nil }
func (duplicate) GetHTTP(context.Context, struct{}) (int, error)               { return 0, nil }
func (duplicate) GetHttp(context.Context, struct{}) (int, error)               { return 0, nil }
func (mixed) Good(context.Context, struct{}) (int, error)                      { return 0, nil }
func (mixed) String() string                                                   { return "mixed" }
func (*ptrReceiver) Do(context.Context, struct{}) (int, error)                 { return 0, nil }

func TestFromObjectRejects(t *testing.T) {
	tests := []struct {
		name    string
		obj     any
		wantMsg string // part of the error
	}{
		{"first argument not a context", noCtx{}, "endpoints_test.noCtx has no method of the form func(context.Context, A) (R, error)"},
		{"no argument", oneArg{}, "has no method of the form"},
		{"three arguments", threeArgs{}, "has no method of the form"},
		{"no error result", noError{}, "has no method of the form"},
		{"one result", oneResult{}, "has no method of the form"},
		{"variadic", variadic{}, "has no method of the form"},
		{"argument not a struct or map", intArg{}, "method Do of endpoints_test.intArg: argument type int cannot hold keyword arguments"},
		{"context-like interface", otherCtx{}, "has no method of the form"},
		{"same snake-case name", duplicate{}, `method "get_http" registered twice`},
		{"pointer receivers on a value", ptrReceiver{}, "endpoints_test.ptrReceiver has no method of the form func(context.Context, A) (R, error) (it has methods with pointer receivers: pass a pointer)"},
		{"no methods", empty{}, "endpoints_test.empty has no method of the form"},
		{"exclude of a missing method", struct{ mixed }{}, `Exclude("Gone")`},
		{"everything excluded", mixed{}, "has no method of the form"},
		{"nil", nil, "FromObject of nil"},
		{"nil pointer", (*calc)(nil), "FromObject of nil *endpoints_test.calc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []endpoints.Option
			switch tt.name {
			case "exclude of a missing method":
				opts = append(opts, endpoints.Exclude("Gone"))
			case "everything excluded":
				opts = append(opts, endpoints.Exclude("Good"))
			}
			err := endpoints.FromObject(tt.obj, opts...).Err()
			if !errors.Is(err, endpoints.ErrInvalid) {
				t.Fatalf("FromObject(%T).Err() = %v, want an ErrInvalid", tt.obj, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("FromObject(%T).Err() = %q, want it to contain %q", tt.obj, err, tt.wantMsg)
			}
		})
	}
}

func TestFromObjectSkipsOtherMethods(t *testing.T) {
	e := endpoints.FromObject(mixed{})
	if err := e.Err(); err != nil || !slices.Equal(e.Methods(), []string{"good"}) {
		t.Errorf("FromObject(mixed{}) = methods %q, err %v; want [good] with String skipped", e.Methods(), err)
	}
	e = endpoints.FromObject(&calc{}, endpoints.Exclude("Divide"))
	if err := e.Err(); err != nil || slices.Contains(e.Methods(), "divide") || len(e.Methods()) == 0 {
		t.Errorf("FromObject(&calc{}, Exclude(Divide)) = methods %q, err %v; want every method but divide", e.Methods(), err)
	}
	if err := endpoints.New(endpoints.Exclude("Add")).Err(); !errors.Is(err, endpoints.ErrInvalid) {
		t.Errorf("New(Exclude(Add)).Err() = %v, want ErrInvalid", err)
	}
}

func TestRegistrationErrorHasOnePrefix(t *testing.T) {
	err := endpoints.FromObject(intArg{}).Err()
	if n := strings.Count(err.Error(), "endpoints:"); n != 1 {
		t.Errorf("FromObject(intArg{}).Err() = %q, want the package prefix once", err)
	}
	e := endpoints.New()
	endpoints.Register(e, "add", func(context.Context, int) (int, error) { return 0, nil })
	if n := strings.Count(e.Err().Error(), "endpoints:"); n != 1 {
		t.Errorf("Register(add, int argument).Err() = %q, want the package prefix once", e.Err())
	}
}

func TestFromObjectPointerReceivers(t *testing.T) {
	e := endpoints.FromObject(&ptrReceiver{})
	if err := e.Err(); err != nil || !slices.Equal(e.Methods(), []string{"do"}) {
		t.Errorf("FromObject(&ptrReceiver{}) = methods %q, err %v; want [do], nil", e.Methods(), err)
	}
}
