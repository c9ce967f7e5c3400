package serializer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/warrenrpc/warren/target"
)

// Conditions of versioned objects. *ObjectError values match them with
// errors.Is.
var (
	// ErrUnsupportedObject means an object arrived whose name is not
	// registered, or whose namespace is not the codec's.
	ErrUnsupportedObject = errors.New("serializer: unsupported object")
	// ErrIncompatibleObjectVersion means an object arrived in a version
	// the registered type cannot read: another major version, or a newer
	// minor one.
	ErrIncompatibleObjectVersion = errors.New("serializer: incompatible object version")
)

// Defaults of NewObjects, those of oslo.versionedobjects.
const (
	// DefaultObjectPrefix starts the keys of an object's envelope.
	DefaultObjectPrefix = "versioned_object"
	// DefaultObjectNamespace is the namespace objects are sent in.
	DefaultObjectNamespace = "versionedobjects"
)

// Objects is a Serializer for oslo.versionedobjects' objects, as nova's
// NovaObjectSerializer: values of registered Go types travel in an
// envelope, here with the prefix "nova_object",
//
//	{"nova_object.name": "Instance", "nova_object.namespace": "nova",
//	 "nova_object.version": "2.1", "nova_object.data": {...},
//	 "nova_object.changes": ["host"]}
//
// Going out, SerializeEntity finds values of registered types at the top,
// in slices, arrays, maps and pointers, in fields of structs that can hold
// them, and in fields of other objects, and wraps each in its envelope;
// their fields become the data by their json tags (name, omitempty, "-";
// embedded structs are flattened). Everything else is encoded by
// encoding/json.
//
// Coming in, DeserializeEntity replaces every envelope by its data, after
// checking that its name is registered (else ErrUnsupportedObject), its
// namespace is the codec's, and its version is one the registered version
// can read: same major, minor at most the registered one (else
// ErrIncompatibleObjectVersion). The data also gets the keys
// "<prefix>.version", the version received, and "<prefix>.changes" when
// the envelope lists changed fields, so a struct can read them with fields
// tagged that way. A field tagged "<prefix>.changes" is sent as the
// envelope's changes when it is not empty; one tagged "<prefix>.version" is
// not sent (the registered version is).
//
// The request context is handled as by JSON. Register every type before
// the codec is first used; after that it is safe for concurrent use.
type Objects struct {
	JSON
	prefix    string
	namespace string

	mu     sync.RWMutex
	byName map[string]*objectType
	byType map[reflect.Type]*objectType
	holds  map[reflect.Type]bool // cache of mayHold for top-level types
}

var _ Serializer = (*Objects)(nil)

type objectType struct {
	name    string
	version string
	typ     reflect.Type // a struct type
}

// NewObjects returns a codec with no types registered whose envelopes use
// keys "<prefix>.name" and so on, and namespace: "nova_object" and "nova"
// for nova. Empty strings mean DefaultObjectPrefix and
// DefaultObjectNamespace.
func NewObjects(prefix, namespace string) *Objects {
	if prefix == "" {
		prefix = DefaultObjectPrefix
	}
	if namespace == "" {
		namespace = DefaultObjectNamespace
	}
	return &Objects{
		prefix:    prefix,
		namespace: namespace,
		byName:    make(map[string]*objectType),
		byType:    make(map[reflect.Type]*objectType),
		holds:     make(map[reflect.Type]bool),
	}
}

// RegisterObject registers T, a struct type, as the object name at version
// ("X.Y"): values of T and *T are sent as that object, and objects of that
// name are received for T. It fails for a type that is not a struct, a
// malformed version, or a name or type registered before.
func RegisterObject[T any](o *Objects, name, version string) error {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		return fmt.Errorf("serializer: object %q: %s is not a struct type", name, t)
	}
	if name == "" {
		return fmt.Errorf("serializer: object of type %s: the name is empty", t)
	}
	if _, err := target.ParseVersion(version); err != nil {
		return fmt.Errorf("serializer: object %q: %w", name, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.byName[name]; ok {
		return fmt.Errorf("serializer: object %q is registered twice", name)
	}
	if prev, ok := o.byType[t]; ok {
		return fmt.Errorf("serializer: type %s is registered as object %q already", t, prev.name)
	}
	ot := &objectType{name: name, version: version, typ: t}
	o.byName[name] = ot
	o.byType[t] = ot
	clear(o.holds)
	return nil
}

// ObjectError reports an object that was received but cannot be read. It
// matches ErrUnsupportedObject or ErrIncompatibleObjectVersion, and a
// server reports it to callers as oslo.versionedobjects' exception of that
// condition.
type ObjectError struct {
	// Name is the object's name as received.
	Name string
	// Version is the object's version as received.
	Version string
	// Err is ErrUnsupportedObject or ErrIncompatibleObjectVersion.
	Err error
	// Have is the registered version, for ErrIncompatibleObjectVersion.
	Have string
}

// Error says which object could not be read and why.
func (e *ObjectError) Error() string {
	if errors.Is(e.Err, ErrIncompatibleObjectVersion) {
		return fmt.Sprintf("%v: %s %s (this side has %s)", e.Err, e.Name, e.Version, e.Have)
	}
	return fmt.Sprintf("%v: %s", e.Err, e.Name)
}

// Unwrap returns Err.
func (e *ObjectError) Unwrap() error { return e.Err }

// ExceptionClass returns the oslo.versionedobjects exception class of the
// condition, in module oslo_versionedobjects.exception.
func (e *ObjectError) ExceptionClass() (class, module string) {
	class = "UnsupportedObjectError"
	if errors.Is(e.Err, ErrIncompatibleObjectVersion) {
		class = "IncompatibleObjectVersion"
	}
	return class, "oslo_versionedobjects.exception"
}

func (o *Objects) key(suffix string) string { return o.prefix + "." + suffix }

// SerializeEntity encodes v as JSON, with every value of a registered type
// in its envelope.
func (o *Objects) SerializeEntity(_ context.Context, v any) (json.RawMessage, error) {
	tree, err := o.toPrimitive(reflect.ValueOf(v), 0)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("serializer: %w", err)
	}
	return b, nil
}

// maxDepth bounds the nesting SerializeEntity follows, so a value that
// refers to itself fails instead of recursing forever.
const maxDepth = 1000

var marshalerType = reflect.TypeFor[json.Marshaler]()

// toPrimitive returns v with registered values replaced by their
// envelopes, as a tree that encoding/json encodes.
func (o *Objects) toPrimitive(v reflect.Value, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("serializer: value nested deeper than %d levels (does it refer to itself?)", maxDepth)
	}
	if !v.IsValid() {
		return nil, nil
	}
	t := v.Type()
	if ot := o.lookup(t); ot != nil {
		if t.Kind() == reflect.Pointer {
			if v.IsNil() {
				return nil, nil
			}
			v = v.Elem()
		}
		return o.envelope(ot, v, depth)
	}
	if !o.mayHoldTop(t) {
		return v.Interface(), nil
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		return o.toPrimitive(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && v.IsNil() {
			return nil, nil
		}
		out := make([]any, v.Len())
		for i := range out {
			e, err := o.toPrimitive(v.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			e, err := o.toPrimitive(it.Value(), depth+1)
			if err != nil {
				return nil, err
			}
			out[it.Key().String()] = e
		}
		return out, nil
	case reflect.Struct:
		return o.fields(v, depth, nil)
	}
	return v.Interface(), nil
}

// envelope wraps v, a struct value of the registered type ot.
func (o *Objects) envelope(ot *objectType, v reflect.Value, depth int) (any, error) {
	var changes any
	data, err := o.fields(v, depth, &changes)
	if err != nil {
		return nil, err
	}
	env := map[string]any{
		o.key("name"):      ot.name,
		o.key("namespace"): o.namespace,
		o.key("version"):   ot.version,
		o.key("data"):      data,
	}
	if changes != nil {
		env[o.key("changes")] = changes
	}
	return env, nil
}

// fields returns the JSON fields of the struct v as a map. With changes
// non-nil, v is an object: its "<prefix>.changes" field goes to *changes
// and its "<prefix>.version" field is left out.
func (o *Objects) fields(v reflect.Value, depth int, changes *any) (map[string]any, error) {
	out := make(map[string]any)
	for _, f := range jsonFields(v.Type()) {
		fv, err := v.FieldByIndexErr(f.index)
		if err != nil { // through a nil embedded pointer
			continue
		}
		if f.omitEmpty && isEmpty(fv) {
			continue
		}
		if changes != nil {
			switch f.name {
			case o.key("version"):
				continue
			case o.key("changes"):
				if !isEmpty(fv) {
					*changes = fv.Interface()
				}
				continue
			}
		}
		e, err := o.toPrimitive(fv, depth+1)
		if err != nil {
			return nil, err
		}
		out[f.name] = e
	}
	return out, nil
}

// lookup returns the registration of t or of the struct *t points to.
func (o *Objects) lookup(t reflect.Type) *objectType {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if ot := o.byType[t]; ot != nil {
		return ot
	}
	if t.Kind() == reflect.Pointer {
		return o.byType[t.Elem()]
	}
	return nil
}

// mayHoldTop reports, with a cache, whether a value of type t can contain
// a value of a registered type.
func (o *Objects) mayHoldTop(t reflect.Type) bool {
	o.mu.RLock()
	h, ok := o.holds[t]
	o.mu.RUnlock()
	if ok {
		return h
	}
	h = o.mayHold(t, make(map[reflect.Type]bool))
	o.mu.Lock()
	o.holds[t] = h
	o.mu.Unlock()
	return h
}

// mayHold reports whether a value of type t can contain a value of a
// registered type; seen holds the types being looked at, which count as
// not holding one (another path finds it if they do).
func (o *Objects) mayHold(t reflect.Type, seen map[reflect.Type]bool) bool {
	if o.lookup(t) != nil {
		return true
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return !t.Implements(marshalerType) && o.mayHold(t.Elem(), seen)
	case reflect.Map:
		return !t.Implements(marshalerType) && t.Key().Kind() == reflect.String && o.mayHold(t.Elem(), seen)
	case reflect.Struct:
		if t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) {
			return false
		}
		for _, f := range jsonFields(t) {
			if o.mayHold(t.FieldByIndex(f.index).Type, seen) {
				return true
			}
		}
	}
	return false
}

// jsonField is a struct field as encoding/json names it.
type jsonField struct {
	name      string
	index     []int
	omitEmpty bool
}

// jsonFields lists the fields encoding/json encodes for the struct type t:
// exported, not tagged "-", named by their tag; the fields of embedded
// structs without a tag name are promoted, outer names winning.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	seen := make(map[string]bool)
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		var embedded []reflect.StructField
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
				embedded = append(embedded, f)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			out = append(out, jsonField{
				name:      name,
				index:     append(append([]int{}, index...), i),
				omitEmpty: strings.Contains(","+opts+",", ",omitempty,"),
			})
		}
		for _, f := range embedded {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			walk(ft, append(append([]int{}, index...), f.Index[0]))
		}
	}
	walk(t, nil)
	return out
}

// isEmpty reports whether omitempty leaves v out, as encoding/json
// decides.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64,
		reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// DeserializeEntity replaces every object envelope in data by its data.
// Numbers keep their text, so integers beyond 2^53 survive.
func (o *Objects) DeserializeEntity(_ context.Context, data json.RawMessage) (json.RawMessage, error) {
	if len(data) == 0 {
		return data, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("%w entity: %w", ErrMalformed, err)
	}
	tree, err := o.fromPrimitive(tree)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("serializer: %w", err)
	}
	return b, nil
}

// fromPrimitive returns the decoded JSON v with envelopes replaced by
// their data.
func (o *Objects) fromPrimitive(v any) (any, error) {
	switch v := v.(type) {
	case []any:
		for i, e := range v {
			d, err := o.fromPrimitive(e)
			if err != nil {
				return nil, err
			}
			v[i] = d
		}
		return v, nil
	case map[string]any:
		if _, ok := v[o.key("name")]; ok {
			return o.unwrap(v)
		}
		for k, e := range v {
			d, err := o.fromPrimitive(e)
			if err != nil {
				return nil, err
			}
			v[k] = d
		}
		return v, nil
	}
	return v, nil
}

// unwrap checks the envelope env and returns its data.
func (o *Objects) unwrap(env map[string]any) (any, error) {
	name, ok := env[o.key("name")].(string)
	if !ok {
		return nil, fmt.Errorf("%w object: %s is not a string", ErrMalformed, o.key("name"))
	}
	version, ok := env[o.key("version")].(string)
	if !ok {
		return nil, fmt.Errorf("%w object %q: %s is not a string", ErrMalformed, name, o.key("version"))
	}
	data, ok := env[o.key("data")].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w object %q: %s is not an object", ErrMalformed, name, o.key("data"))
	}
	if ns, ok := env[o.key("namespace")]; ok && ns != o.namespace {
		return nil, &ObjectError{Name: name, Version: version, Err: ErrUnsupportedObject}
	}
	o.mu.RLock()
	ot := o.byName[name]
	o.mu.RUnlock()
	if ot == nil {
		return nil, &ObjectError{Name: name, Version: version, Err: ErrUnsupportedObject}
	}
	if _, err := target.ParseVersion(version); err != nil {
		return nil, fmt.Errorf("%w object %q: %w", ErrMalformed, name, err)
	}
	if !target.Compatible(ot.version, version) {
		return nil, &ObjectError{Name: name, Version: version, Err: ErrIncompatibleObjectVersion, Have: ot.version}
	}
	if changes, ok := env[o.key("changes")]; ok && changes != nil {
		list, ok := changes.([]any)
		if !ok {
			return nil, fmt.Errorf("%w object %q: %s is not a list", ErrMalformed, name, o.key("changes"))
		}
		for _, c := range list {
			if _, ok := c.(string); !ok {
				return nil, fmt.Errorf("%w object %q: %s holds a %T, not a field name", ErrMalformed, name, o.key("changes"), c)
			}
		}
		data[o.key("changes")] = list
	}
	for k, e := range data {
		d, err := o.fromPrimitive(e)
		if err != nil {
			return nil, err
		}
		data[k] = d
	}
	data[o.key("version")] = version
	return data, nil
}
