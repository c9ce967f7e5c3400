package endpoints_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/warrenrpc/warren/endpoints"
)

type fuzzArgs struct {
	Name  string            `json:"name"`
	Count int8              `json:"count"`
	Tags  []string          `json:"tags"`
	Inner *inner            `json:"inner"`
	Attrs map[string]uint16 `json:"attrs"`
	Color color             `json:"color"`
}

var fuzzFields = []string{"name", "count", "tags", "inner", "attrs", "color"}

// FuzzTypedArgs checks that a typed handler never panics on any input, and
// that it reports an unexpected keyword exactly when a top-level key names
// no field.
func FuzzTypedArgs(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"name":"n","count":3}`, `{"count":300}`, `{"zz":1}`, `{"inner":{"c":1,"x":2}}`,
		`{"NAME":"x"}`, `{"tags":[1]}`, `{"color":"red"}`, `{"color":"green"}`, `[]`, `null`, `{"a":`, `{} {}`,
		`{"attrs":{"k":-1}}`, `{"\u006eame":"x"}`,
	} {
		f.Add([]byte(s))
	}
	h := endpoints.Typed(func(_ context.Context, a fuzzArgs) (fuzzArgs, error) { return a, nil })
	f.Fuzz(func(t *testing.T, args []byte) {
		res, err := h.ServeRPC(context.Background(), args)
		if err != nil {
			var ae *endpoints.ArgumentError
			if !errors.As(err, &ae) {
				t.Fatalf("ServeRPC(%q) error %T %v, want *ArgumentError", args, err, err)
			}
		}
		if len(args) == 0 || !json.Valid(args) {
			if len(args) > 0 && err == nil {
				t.Fatalf("ServeRPC(%q) = %v, nil; want an error for invalid JSON", args, res)
			}
			return
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(args, &top) != nil {
			return
		}
		unknown := false
		for k := range top {
			if !isField(k) {
				unknown = true
			}
		}
		unexpected := err != nil && strings.Contains(err.Error(), "unexpected keyword argument")
		if unexpected && !unknown || unknown && err == nil {
			t.Fatalf("ServeRPC(%q) = %v; unknown top-level key: %v", args, err, unknown)
		}
	})
}

// isField reports whether encoding/json stores key k in a field of
// fuzzArgs: it matches names case-insensitively, as bytes.EqualFold does.
func isField(k string) bool {
	for _, f := range fuzzFields {
		if strings.EqualFold(k, f) {
			return true
		}
	}
	return false
}
