package dispatcher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
)

type fuzzInner struct {
	Flag bool      `json:"flag"`
	List []float32 `json:"list"`
}

type fuzzArgs struct {
	Name   string            `json:"name"`
	Count  uint8             `json:"count"`
	Ratio  float64           `json:"ratio"`
	Inner  fuzzInner         `json:"inner"`
	Ptr    *fuzzInner        `json:"ptr"`
	Labels map[string]string `json:"labels"`
	Any    any               `json:"any"`
	Bytes  []byte            `json:"bytes"`
}

// FuzzDispatchTypedArgs feeds arbitrary arguments through Dispatch to a
// typed handler. Dispatch must never panic and must fail only with an
// *ArgumentError; it must fail whenever encoding/json cannot decode the
// arguments into the struct, and succeed whenever a strict decoding (no
// unknown fields) of a JSON object does.
func FuzzDispatchTypedArgs(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"name":"n","count":255,"ratio":1e-3}`, `{"count":256}`, `{"count":-1}`, `{"zz":null}`,
		`{"inner":{"flag":true,"list":[1,2.5],"extra":{}}}`, `{"ptr":null}`, `{"labels":{"a":"b"}}`,
		`{"any":[{"x":[null]}]}`, `{"bytes":"aGk="}`, `{"bytes":"!"}`, `[]`, `"x"`, `1`, `null`, `{`, `{}}`, ``,
		`{"Name":"case"}`, `{"name":"a","name":1}`,
	} {
		f.Add([]byte(s))
	}
	ep := endpoints.New()
	endpoints.Register(ep, "take", func(_ context.Context, a fuzzArgs) (fuzzArgs, error) { return a, nil })
	d, err := dispatcher.New([]*endpoints.Endpoint{ep})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, args []byte) {
		res, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: "take", Args: args})
		object := len(args) == 0 || bytes.HasPrefix(bytes.TrimLeft(args, " \t\r\n"), []byte("{"))
		var lenient fuzzArgs
		decodes := len(args) == 0 || json.Unmarshal(args, &lenient) == nil
		if err != nil {
			var ae *endpoints.ArgumentError
			if !errors.As(err, &ae) || ae.Method != "take" {
				t.Fatalf("Dispatch(%q) error %T %v, want an *ArgumentError for take", args, err, err)
			}
			var strict fuzzArgs
			dec := json.NewDecoder(bytes.NewReader(args))
			dec.DisallowUnknownFields()
			if object && dec.Decode(&strict) == nil && !dec.More() && json.Valid(args) {
				t.Fatalf("Dispatch(%q) = %v, but strict decoding succeeds", args, err)
			}
			return
		}
		if !object || !decodes {
			t.Fatalf("Dispatch(%q) = %s; want an error (object %v, decodes %v)", args, res, object, decodes)
		}
		if !json.Valid(res) {
			t.Fatalf("Dispatch(%q) = %q, not JSON", args, res)
		}
	})
}
