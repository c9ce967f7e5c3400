package endpoints_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/warrenrpc/warren/endpoints"
)

type Paging struct {
	Limit  int `json:"limit"`
	Marker string
}

type Tagged struct {
	Deep int `json:"deep"`
}

type listArgs struct {
	Paging
	Tagged  `json:"tagged"`
	Name    string `json:"name,omitempty"`
	Skipped int    `json:"-"`
	Dash    int    `json:"-,"`
	private int
}

func TestArgs(t *testing.T) {
	e := endpoints.New()
	endpoints.Register(e, "list", func(context.Context, listArgs) (int, error) { return 0, nil })
	endpoints.Register(e, "none", func(context.Context, struct{}) (int, error) { return 0, nil })
	endpoints.Register(e, "ptr", func(context.Context, *Tagged) (int, error) { return 0, nil })
	endpoints.Register(e, "any", func(context.Context, map[string]any) (int, error) { return 0, nil })
	e.Handle("raw", endpoints.HandlerFunc(func(context.Context, json.RawMessage) (any, error) { return nil, nil }))
	obj := endpoints.FromObject(lister{})
	for _, tc := range []struct {
		name string
		ep   *endpoints.Endpoint
		want []string
		ok   bool
	}{
		{"list", e, []string{"limit", "Marker", "tagged", "name", "-"}, true},
		{"none", e, []string{}, true},
		{"ptr", e, []string{"deep"}, true},
		{"any", e, nil, false},
		{"raw", e, nil, false},
		{"missing", e, nil, false},
		{"list", obj, []string{"limit", "Marker", "tagged", "name", "-"}, true},
	} {
		got, ok := tc.ep.Args(tc.name)
		if !slices.Equal(got, tc.want) || ok != tc.ok {
			t.Errorf("Args(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	_ = listArgs{}.private
}

type lister struct{}

func (lister) List(context.Context, listArgs) (int, error) { return 0, nil }
