package jsonnum_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/warrenrpc/warren/internal/jsonnum"
)

type tree struct {
	Name     string  `json:"name"`
	Children []*tree `json:"children"`
	Extra    any     `json:"extra"`
}

type plain struct {
	N    int64             `json:"n"`
	Tags map[string]string `json:"tags"`
	Self *plain            `json:"self"`
}

func TestHoldsInterface(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		want bool
	}{
		{reflect.TypeFor[*int](), false},
		{reflect.TypeFor[*plain](), false},
		{reflect.TypeFor[*any](), true},
		{reflect.TypeFor[*map[string]any](), true},
		{reflect.TypeFor[*[]any](), true},
		{reflect.TypeFor[*tree](), true},
		{reflect.TypeFor[*[2]map[string][]any](), true},
		{reflect.TypeFor[*json.RawMessage](), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := jsonnum.HoldsInterface(tt.typ); got != tt.want {
			t.Errorf("HoldsInterface(%v) = %v, want %v", tt.typ, got, tt.want)
		}
	}
}

func TestUnmarshal(t *testing.T) {
	var m map[string]any
	if err := jsonnum.Unmarshal([]byte(`{"n": 18446744073709551617, "f": 3.0}`), &m); err != nil {
		t.Fatal(err)
	}
	if m["n"] != json.Number("18446744073709551617") || m["f"] != json.Number("3.0") {
		t.Errorf("Unmarshal into map[string]any = %#v, want json.Number values", m)
	}
	var tr tree
	if err := jsonnum.Unmarshal([]byte(`{"children": [{"extra": 9007199254740993}]}`), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Children[0].Extra != json.Number("9007199254740993") {
		t.Errorf("Unmarshal into a nested any = %#v, want json.Number", tr.Children[0].Extra)
	}
	var p plain
	if err := jsonnum.Unmarshal([]byte(`{"n": 9007199254740993}`), &p); err != nil || p.N != 9007199254740993 {
		t.Errorf("Unmarshal into an int64 = %d, %v", p.N, err)
	}
	for _, bad := range []string{`{"n": 1} x`, `{`, ``} {
		var a, b any
		got, want := jsonnum.Unmarshal([]byte(bad), &a), json.Unmarshal([]byte(bad), &b)
		if got == nil || got.Error() != want.Error() {
			t.Errorf("Unmarshal(%q) = %v, want json.Unmarshal's %v", bad, got, want)
		}
	}
	for _, bad := range []string{`{"children": 5}`, `{"name": 1, "extra": 2}`, `[]`} {
		var a, b tree
		got, want := jsonnum.Unmarshal([]byte(bad), &a), json.Unmarshal([]byte(bad), &b)
		if got == nil || got.Error() != want.Error() {
			t.Errorf("Unmarshal(%q) into a tree = %v, want json.Unmarshal's %v", bad, got, want)
		}
	}
}

// BenchmarkUnmarshalAny decodes a 10 KB object into a map[string]any.
func BenchmarkUnmarshalAny(b *testing.B) {
	m := map[string]any{}
	for i := range 100 {
		m[fmt.Sprint("key", i)] = []any{i, "a string of some length", true, nil, 1.5}
	}
	data, err := json.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var out map[string]any
		if err := jsonnum.Unmarshal(data, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzUnmarshal checks Unmarshal against encoding/json on any input: it
// fails exactly on invalid JSON (json.Unmarshal also fails on numbers out
// of float64's range, which json.Number keeps), and what it decodes into
// an any survives a round trip, numbers spelled as they came.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{}`, `{"n": 18446744073709551617}`, `[1.0, -0, 1e400]`, `"x"`, `null`, `{"a": {"b": [true]}}`, `{`, `1 2`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got, want any
		gerr, werr := jsonnum.Unmarshal(data, &got), json.Unmarshal(data, &want)
		if (gerr == nil) != json.Valid(data) || (werr == nil && gerr != nil) {
			t.Fatalf("Unmarshal(%q) = %v, json.Unmarshal = %v", data, gerr, werr)
		}
		if gerr != nil {
			return
		}
		out, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("Marshal(Unmarshal(%q)): %v", data, err)
		}
		var again any
		if err := jsonnum.Unmarshal(out, &again); err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("Unmarshal(%q) = %#v, which does not survive a round trip (%s)", data, got, out)
		}
	})
}

// mixed has a field of each kind encoding/json decodes without an
// interface, and field names that differ from their keys in case.
type mixed struct {
	Int    int                `json:"int"`
	Uint   uint8              `json:"uint"`
	Float  float32            `json:"float"`
	Str    string             `json:"str"`
	Bytes  []byte             `json:"bytes"`
	List   []int16            `json:"list"`
	Arr    [2]bool            `json:"arr"`
	Map    map[string]float64 `json:"map"`
	IntMap map[int]string     `json:"int_map"`
	Ptr    *plain             `json:"ptr"`
	Raw    json.RawMessage    `json:"raw"`
	Lower  string
	Omit   string `json:"-"`
}

// quoted has a field with the ",string" option, which Plain leaves to
// encoding/json.
type quoted struct {
	Quoted int    `json:"quoted,string"`
	Str    string `json:"str"`
}

// FuzzPlain checks Plain against json.Unmarshal on any input, into
// structs (with and without a ",string" option), a slice and a string:
// both succeed or both fail with the same error, and on success they
// decode the same values.
func FuzzPlain(f *testing.F) {
	for _, s := range []string{
		`{"int": 1, "uint": 255, "float": 1.5, "str": "a\u00e9\ud83d\ude00", "quoted": "12", "bytes": "aGk=", "list": [1, -2], "arr": [true, false], "map": {"x": 1e3}, "int_map": {"7": "x"}, "ptr": {"n": 3, "tags": {"a": "b"}}, "raw": [1, {"a": null}], "LOWER": "case", "Omit": "x"}`,
		`{"quoted": "+0", "str": "x"}`, `{"int": 1.5}`, `{"uint": 256}`, `{"str": 1}`, `{"quoted": 12}`, `{"bytes": "!"}`, `{"arr": [true, true, true]}`,
		`{"int": 1, "int": 2}`, `{"str": "\xff"}`, `{"map": null}`, `[1, 2]`, `"s"`, `null`, `{`, `{"int": 1} x`, ` {} `, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, newDst := range []func() any{
			func() any { return new(mixed) },
			func() any { return new(quoted) },
			func() any { return new([]uint16) },
			func() any { return new(string) },
		} {
			got, want := newDst(), newDst()
			gerr, werr := jsonnum.Plain(data, got), json.Unmarshal(data, want)
			if fmt.Sprint(gerr) != fmt.Sprint(werr) {
				t.Fatalf("into %T: Plain(%q) = %v, json.Unmarshal = %v", got, data, gerr, werr)
			}
			if gerr == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("into %T: Plain(%q) decoded %#v, json.Unmarshal %#v", got, data, got, want)
			}
		}
	})
}
