package serializer_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/warrenrpc/warren/serializer"
)

type flavor struct {
	Name  string `json:"name"`
	VCPUs int    `json:"vcpus"`
}

type instance struct {
	UUID    string   `json:"uuid"`
	Host    string   `json:"host,omitempty"`
	Flavor  *flavor  `json:"flavor,omitempty"`
	Changes []string `json:"nova_object.changes,omitempty"`
	Version string   `json:"nova_object.version,omitempty"`
	secret  string
}

func novaCodec(t *testing.T) *serializer.Objects {
	t.Helper()
	o := serializer.NewObjects("nova_object", "nova")
	if err := serializer.RegisterObject[instance](o, "Instance", "2.1"); err != nil {
		t.Fatal(err)
	}
	if err := serializer.RegisterObject[flavor](o, "Flavor", "1.2"); err != nil {
		t.Fatal(err)
	}
	return o
}

// jsonEqual compares two JSON texts as values.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

const novaInstance = `{
	"nova_object.name": "Instance", "nova_object.namespace": "nova", "nova_object.version": "2.1",
	"nova_object.data": {
		"uuid": "i-1", "host": "h1",
		"flavor": {"nova_object.name": "Flavor", "nova_object.namespace": "nova",
			"nova_object.version": "1.2", "nova_object.data": {"name": "m1.small", "vcpus": 1}}
	},
	"nova_object.changes": ["host"]
}`

func TestObjectsSerialize(t *testing.T) {
	o := novaCodec(t)
	inst := &instance{UUID: "i-1", Host: "h1", Flavor: &flavor{Name: "m1.small", VCPUs: 1},
		Changes: []string{"host"}, Version: "9.9", secret: "x"}
	args := struct {
		Instance *instance          `json:"instance"`
		Others   []instance         `json:"others"`
		ByName   map[string]*flavor `json:"by_name"`
		Count    int                `json:"count"`
		Any      any                `json:"any"`
	}{Instance: inst, Others: []instance{{UUID: "i-2"}}, ByName: map[string]*flavor{"f": {Name: "tiny"}}, Count: 3, Any: flavor{Name: "x"}}
	got, err := o.SerializeEntity(context.Background(), args)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, got, `{
		"instance": `+novaInstance+`,
		"others": [{"nova_object.name": "Instance", "nova_object.namespace": "nova", "nova_object.version": "2.1",
			"nova_object.data": {"uuid": "i-2"}}],
		"by_name": {"f": {"nova_object.name": "Flavor", "nova_object.namespace": "nova", "nova_object.version": "1.2",
			"nova_object.data": {"name": "tiny", "vcpus": 0}}},
		"count": 3,
		"any": {"nova_object.name": "Flavor", "nova_object.namespace": "nova", "nova_object.version": "1.2",
			"nova_object.data": {"name": "x", "vcpus": 0}}
	}`)
}

// TestObjectsPlainValues: values that hold no object are encoded exactly
// as encoding/json encodes them.
func TestObjectsPlainValues(t *testing.T) {
	o := novaCodec(t)
	type plain struct {
		A int               `json:"a,omitempty"`
		B []byte            `json:"b"`
		C map[int]string    `json:"c"`
		D json.RawMessage   `json:"d"`
		E *struct{ X bool } `json:"e"`
	}
	for _, v := range []any{nil, 1, "s", []int{1, 2}, plain{B: []byte("hi"), C: map[int]string{1: "a"}, D: json.RawMessage(`[1]`)}} {
		got, err := o.SerializeEntity(context.Background(), v)
		if err != nil {
			t.Fatalf("SerializeEntity(%#v) = %v", v, err)
		}
		want, _ := json.Marshal(v)
		if string(got) != string(want) {
			t.Errorf("SerializeEntity(%#v) = %s, want %s", v, got, want)
		}
	}
}

// TestObjectsDeserialize: envelopes from a Python peer become their data,
// with version and changes readable by tagged fields, so a typed value
// decodes from the result.
func TestObjectsDeserialize(t *testing.T) {
	o := novaCodec(t)
	data := `{"instance": ` + novaInstance + `, "big": 12345678901234567890, "list": [` + novaInstance + `]}`
	got, err := o.DeserializeEntity(context.Background(), json.RawMessage(data))
	if err != nil {
		t.Fatalf("DeserializeEntity = %v", err)
	}
	var args struct {
		Instance instance    `json:"instance"`
		Big      json.Number `json:"big"`
		List     []instance  `json:"list"`
	}
	if err := json.Unmarshal(got, &args); err != nil {
		t.Fatalf("decoding %s: %v", got, err)
	}
	want := instance{UUID: "i-1", Host: "h1", Flavor: &flavor{Name: "m1.small", VCPUs: 1}, Changes: []string{"host"}, Version: "2.1"}
	if !reflect.DeepEqual(args.Instance, want) || len(args.List) != 1 || !reflect.DeepEqual(args.List[0], want) {
		t.Errorf("decoded %+v (flavor %+v), want %+v", args, args.Instance.Flavor, want)
	}
	if args.Big != "12345678901234567890" {
		t.Errorf("big = %s, want 12345678901234567890 unchanged", args.Big)
	}

	// An older minor version of the same major is read.
	older := strings.Replace(novaInstance, `"2.1"`, `"2.0"`, 1)
	if _, err := o.DeserializeEntity(context.Background(), json.RawMessage(older)); err != nil {
		t.Errorf("DeserializeEntity(Instance 2.0) = %v, want it read by 2.1", err)
	}
}

func TestObjectsDeserializeErrors(t *testing.T) {
	o := novaCodec(t)
	for _, tc := range []struct {
		name, data string
		want       error
		class      string
	}{
		{"newer-minor", strings.Replace(novaInstance, `"2.1"`, `"2.2"`, 1), serializer.ErrIncompatibleObjectVersion, "IncompatibleObjectVersion"},
		{"other-major", strings.Replace(novaInstance, `"2.1"`, `"1.9"`, 1), serializer.ErrIncompatibleObjectVersion, "IncompatibleObjectVersion"},
		{"unknown-name", strings.Replace(novaInstance, `"Instance"`, `"Aggregate"`, 1), serializer.ErrUnsupportedObject, "UnsupportedObjectError"},
		{"other-namespace", strings.Replace(novaInstance, `"nova_object.namespace": "nova"`, `"nova_object.namespace": "cinder"`, 1), serializer.ErrUnsupportedObject, "UnsupportedObjectError"},
		{"nested-unknown", strings.Replace(novaInstance, `"Flavor"`, `"Flavour"`, 1), serializer.ErrUnsupportedObject, "UnsupportedObjectError"},
		{"name-not-string", `{"nova_object.name": 1}`, serializer.ErrMalformed, ""},
		{"no-data", `{"nova_object.name": "Flavor", "nova_object.version": "1.0"}`, serializer.ErrMalformed, ""},
		{"bad-version", `{"nova_object.name": "Flavor", "nova_object.version": "one", "nova_object.data": {}}`, serializer.ErrMalformed, ""},
		{"changes-not-list", strings.Replace(novaInstance, `["host"]`, `"host"`, 1), serializer.ErrMalformed, ""},
		{"not-json", `{"a": `, serializer.ErrMalformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := o.DeserializeEntity(context.Background(), json.RawMessage(tc.data))
			if !errors.Is(err, tc.want) {
				t.Fatalf("DeserializeEntity(%s) = %s, %v; want %v", tc.data, got, err, tc.want)
			}
			if tc.class == "" {
				return
			}
			var oe *serializer.ObjectError
			if !errors.As(err, &oe) {
				t.Fatalf("DeserializeEntity error %v is not an *ObjectError", err)
			}
			if class, module := oe.ExceptionClass(); class != tc.class || module != "oslo_versionedobjects.exception" {
				t.Errorf("ExceptionClass() = %s, %s; want %s, oslo_versionedobjects.exception", class, module, tc.class)
			}
		})
	}
}

func TestRegisterObjectErrors(t *testing.T) {
	o := serializer.NewObjects("", "")
	if err := serializer.RegisterObject[flavor](o, "Flavor", "1.0"); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"not-a-struct":   serializer.RegisterObject[int](o, "Int", "1.0"),
		"bad-version":    serializer.RegisterObject[instance](o, "Instance", "v1"),
		"empty-name":     serializer.RegisterObject[instance](o, "", "1.0"),
		"name-twice":     serializer.RegisterObject[instance](o, "Flavor", "1.0"),
		"type-twice":     serializer.RegisterObject[flavor](o, "Flavor2", "1.0"),
		"pointer-struct": serializer.RegisterObject[*instance](o, "InstancePtr", "1.0"),
	} {
		if err == nil {
			t.Errorf("%s: RegisterObject = nil, want an error", name)
		}
	}
	// The defaults are oslo.versionedobjects' own.
	got, err := o.SerializeEntity(context.Background(), flavor{Name: "f"})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, got, `{"versioned_object.name": "Flavor", "versioned_object.namespace": "versionedobjects",
		"versioned_object.version": "1.0", "versioned_object.data": {"name": "f", "vcpus": 0}}`)
}

// TestObjectsSelfReference: a value that contains itself fails instead of
// recursing forever.
func TestObjectsSelfReference(t *testing.T) {
	o := novaCodec(t)
	type node struct {
		Next any `json:"next"`
	}
	n := &node{}
	n.Next = n
	if _, err := o.SerializeEntity(context.Background(), n); err == nil {
		t.Error("SerializeEntity(self-referencing value) = nil error, want one")
	}
}
