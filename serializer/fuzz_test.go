package serializer_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/warrenrpc/warren/serializer"
)

// FuzzParseRequestContext: any JSON object received as a request context
// parses or fails with ErrMalformed, never panics, and what parses comes
// back the same from its own Map.
func FuzzParseRequestContext(f *testing.F) {
	f.Add([]byte(pythonDict))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"user": null, "roles": [], "is_admin_project": false, "project": "p"}`))
	f.Add([]byte(`{"roles": [1], "user": {}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return
		}
		rc, err := serializer.ParseRequestContext(m)
		if err != nil {
			if !errors.Is(err, serializer.ErrMalformed) {
				t.Fatalf("ParseRequestContext(%s) = %v, want ErrMalformed", data, err)
			}
			return
		}
		b, err := json.Marshal(rc.Map())
		if err != nil {
			t.Fatalf("Map() of %s does not encode: %v", data, err)
		}
		var again map[string]any
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatal(err)
		}
		rc2, err := serializer.ParseRequestContext(again)
		if err != nil {
			t.Fatalf("ParseRequestContext(Map()) = %v for %s", err, b)
		}
		if !reflect.DeepEqual(rc.Map(), rc2.Map()) {
			t.Fatalf("round trip of %s changed it:\n%v\n%v", data, rc.Map(), rc2.Map())
		}
	})
}

// FuzzObjectsDeserialize: any entity received either fails with one of the
// codec's conditions or gives valid JSON without envelopes of the codec's
// registered names at the top.
func FuzzObjectsDeserialize(f *testing.F) {
	f.Add([]byte(novaInstance))
	f.Add([]byte(`{"instance": ` + novaInstance + `, "n": 1e400}`))
	f.Add([]byte(`[{"nova_object.name": "Flavor", "nova_object.version": "1.0", "nova_object.data": {"x": [{"nova_object.name": 1}]}}]`))
	f.Add([]byte(`{"nova_object.name": "Flavor", "nova_object.version": "1.2.3", "nova_object.data": {}, "nova_object.changes": null}`))
	f.Add([]byte(`"plain"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return // the wire decoder hands over only valid JSON
		}
		o := serializer.NewObjects("nova_object", "nova")
		if err := serializer.RegisterObject[instance](o, "Instance", "2.1"); err != nil {
			t.Fatal(err)
		}
		if err := serializer.RegisterObject[flavor](o, "Flavor", "1.2"); err != nil {
			t.Fatal(err)
		}
		got, err := o.DeserializeEntity(context.Background(), data)
		if err != nil {
			if !errors.Is(err, serializer.ErrMalformed) && !errors.Is(err, serializer.ErrUnsupportedObject) &&
				!errors.Is(err, serializer.ErrIncompatibleObjectVersion) {
				t.Fatalf("DeserializeEntity(%s) = %v, not one of the codec's conditions", data, err)
			}
			return
		}
		if !json.Valid(got) {
			t.Fatalf("DeserializeEntity(%s) = %s, not valid JSON", data, got)
		}
		var top map[string]any
		if json.Unmarshal(got, &top) == nil {
			if _, ok := top["nova_object.name"]; ok {
				t.Fatalf("DeserializeEntity(%s) = %s, still an envelope", data, got)
			}
		}
	})
}
