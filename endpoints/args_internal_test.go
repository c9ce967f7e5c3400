package endpoints

import (
	"reflect"
	"testing"
)

type knownArgs struct {
	Name   string            `json:"name"`
	Count  int8              `json:"count"`
	Tags   []string          `json:"tags"`
	Nested *struct{ X int }  `json:"nested"`
	Attrs  map[string]uint16 `json:"attrs"`
	Plain  bool
	Skip   int `json:"-"`
	Dash   int `json:"-,"`
	hidden int
}

// TestPlainKeywords checks which argument types decode takes the fast
// path for.
func TestPlainKeywords(t *testing.T) {
	type embedded struct{ knownArgs }
	type iface struct{ V any }
	type dup struct {
		A int
		B int `json:"A"`
	}
	tests := []struct {
		name string
		typ  reflect.Type
		want []string
	}{
		{"plain struct", reflect.TypeFor[knownArgs](), []string{"name", "count", "tags", "nested", "attrs", "Plain", "-"}},
		{"pointer", reflect.TypeFor[*knownArgs](), []string{"name", "count", "tags", "nested", "attrs", "Plain", "-"}},
		{"empty struct", reflect.TypeFor[struct{}](), []string{}},
		{"embedded", reflect.TypeFor[embedded](), nil},
		{"interface", reflect.TypeFor[iface](), nil},
		{"duplicate names", reflect.TypeFor[dup](), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := newArgSpec(tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			if spec.known != nil {
				got = []string{}
			}
			for _, k := range spec.known {
				got = append(got, string(k))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("known keywords of %s = %q, want %q", tt.typ, got, tt.want)
			}
		})
	}
}

// FuzzKnownKeywords checks that decoding with the fast path gives what
// the strict json.Decoder path gives: the same value, the same error.
func FuzzKnownKeywords(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"name":"n","count":3}`, `{"count":300}`, `{"zz":1}`, `{"nested":{"X":1,"y":2}}`,
		`{"NAME":"x"}`, `{"tags":[1]}`, `{"plain":true}`, `{"Skip":1}`, `{"-":2}`, `{"hidden":1}`,
		`{"\u006eame":"x"}`, `{"na\"me":1}`, `{"attrs":{"k":-1}}`, `{"name":"a\\","zz":[{"name":1}]}`,
		`{"ſkip":1}`, ` {"name" : "x" , "tags" : ["a", "b"] } `, `[]`, `null`, `{"a":`, `{} {}`,
	} {
		f.Add([]byte(s))
	}
	fast, err := newArgSpec(reflect.TypeFor[knownArgs]())
	if err != nil || fast.known == nil {
		f.Fatalf("knownArgs takes no fast path: %v", err)
	}
	slow := fast
	slow.known = nil
	f.Fuzz(func(t *testing.T, args []byte) {
		var a, b knownArgs
		errA, errB := fast.decode("m", args, &a), slow.decode("m", args, &b)
		if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() {
			t.Fatalf("decode(%q) = %v with the fast path, %v without", args, errA, errB)
		}
		if errA == nil && !reflect.DeepEqual(a, b) {
			t.Fatalf("decode(%q) = %+v with the fast path, %+v without", args, a, b)
		}
	})
}
