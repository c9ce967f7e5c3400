package endpoints

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/warrenrpc/warren/internal/jsonnum"
)

// argSpec describes the type a handler decodes its keyword arguments into.
// It is built once, when the handler is made.
type argSpec struct {
	typ  reflect.Type // the handler's argument type A
	base reflect.Type // A without its pointers
	// strict is set when base is a struct decoded field by field: a
	// keyword that matches no field is then an error.
	strict bool
	// known, for a strict struct whose fields encoding/json finds plainly
	// (no embedded field, no interface, distinct plain names), holds the
	// keywords it takes, so that decode checks the keys itself and spares
	// a json.Decoder; nil otherwise.
	known [][]byte
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// newArgSpec checks that values of type t can hold keyword arguments: a
// struct, a map with keys encoding/json can decode, an empty interface, a
// type with its own UnmarshalJSON, or a pointer to one of these.
func newArgSpec(t reflect.Type) (argSpec, error) {
	base := t
	for base.Kind() == reflect.Pointer {
		base = base.Elem()
	}
	s := argSpec{typ: t, base: base}
	if implements(base, jsonUnmarshalerType) {
		return s, nil
	}
	switch {
	case implements(base, textUnmarshalerType):
		// encoding/json decodes only JSON strings into these.
	case base.Kind() == reflect.Struct:
		s.strict = true
		s.known = plainKeywords(&s)
		return s, nil
	case base.Kind() == reflect.Map && mapKeyOK(base.Key()):
		return s, nil
	case base.Kind() == reflect.Interface && base.NumMethod() == 0:
		return s, nil
	}
	return s, fmt.Errorf("argument type %s cannot hold keyword arguments: want a struct or a map", t)
}

// names returns the keywords a struct argument type takes, as
// encoding/json names its fields, and true; false for any other type.
func (s *argSpec) names() ([]string, bool) {
	if !s.strict {
		return nil, false
	}
	names := []string{}
	for _, f := range reflect.VisibleFields(s.base) {
		tag, tagged := f.Tag.Lookup("json")
		name, _, _ := strings.Cut(tag, ",")
		switch {
		case !f.IsExported() && !f.Anonymous, tag == "-":
			continue
		case f.Anonymous && !tagged && f.Type.Kind() == reflect.Struct:
			continue // its fields are promoted and listed themselves
		case !f.IsExported():
			continue
		case name == "":
			name = f.Name
		}
		if len(f.Index) > 1 && !promoted(s.base, f.Index) {
			continue
		}
		names = append(names, name)
	}
	return names, true
}

// plainKeywords returns the keywords of s's struct when encoding/json
// decodes it plainly: no embedded field (whose promotion rules decode
// leaves to encoding/json), no interface (numbers in it need UseNumber),
// names of letters, digits, "_", "-" and "." only, no two alike. It
// returns nil otherwise.
func plainKeywords(s *argSpec) [][]byte {
	if jsonnum.HoldsInterface(s.base) {
		return nil
	}
	for i := range s.base.NumField() {
		if s.base.Field(i).Anonymous {
			return nil
		}
	}
	names, _ := s.names()
	known := make([][]byte, 0, len(names))
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] || n == "" || strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != "" {
			return nil
		}
		seen[n] = true
		known = append(known, []byte(n))
	}
	return known
}

// allKnown reports whether every top-level key of args, a JSON object
// json.Unmarshal accepted, names a field of s.known, as encoding/json
// matches keys to fields: exactly or without regard to case.
func (s *argSpec) allKnown(args []byte) bool {
	depth := 0
	key := false // the next string is a top-level key
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case '{', '[':
			depth++
			key = depth == 1
		case '}', ']':
			depth--
		case ',':
			key = depth == 1
		case '"':
			end := i + 1
			for ; end < len(args) && args[end] != '"'; end++ {
				if args[end] == '\\' {
					end++
				}
			}
			if end >= len(args) {
				return false
			}
			if key && !s.isKnown(args[i:end+1]) {
				return false
			}
			key = false
			i = end
		}
	}
	return true
}

// isKnown reports whether the JSON string quoted names a field of s.known.
func (s *argSpec) isKnown(quoted []byte) bool {
	k := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(k, '\\') >= 0 {
		var text string
		if json.Unmarshal(quoted, &text) != nil {
			return false
		}
		k = []byte(text)
	}
	for _, name := range s.known {
		if bytes.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// promoted reports whether the field at index is reached through
// untagged embedded structs only, as encoding/json promotes fields.
func promoted(t reflect.Type, index []int) bool {
	for _, i := range index[:len(index)-1] {
		f := t.Field(i)
		if _, tagged := f.Tag.Lookup("json"); tagged {
			return false
		}
		t = f.Type
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	return true
}

func implements(t, iface reflect.Type) bool {
	return t.Implements(iface) || reflect.PointerTo(t).Implements(iface)
}

// mapKeyOK reports whether encoding/json can decode object keys into k.
func mapKeyOK(k reflect.Type) bool {
	switch k.Kind() {
	case reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return implements(k, textUnmarshalerType)
}

// decode decodes args into dst, a pointer to a value of type s.typ, for
// method. Errors are *ArgumentError.
func (s *argSpec) decode(method string, args json.RawMessage, dst any) error {
	if len(args) == 0 {
		return nil
	}
	if err := CheckArgs(method, args); err != nil {
		return err
	}
	if !s.strict {
		if err := jsonnum.Unmarshal(args, dst); err != nil {
			return argumentError(method, args, err)
		}
		return nil
	}
	if s.known != nil {
		if jsonnum.Plain(args, dst) == nil && s.allKnown(args) {
			return nil
		}
		// Let the strict decoding below find and name the error.
		reflect.ValueOf(dst).Elem().SetZero()
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	err := dec.Decode(dst)
	if err == nil && isSpace(args[dec.InputOffset():]) {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) || !json.Valid(args) {
		return argumentError(method, args, err)
	}
	// A keyword matched no field, an unknown key sat inside a nested
	// object, or a field's own UnmarshalJSON failed.
	if key, ok := s.unknownKeyword(args); ok {
		return &ArgumentError{Method: method, Err: fmt.Errorf("got an unexpected keyword argument '%s'", key)}
	}
	reflect.ValueOf(dst).Elem().SetZero()
	if err := jsonnum.Unmarshal(args, dst); err != nil {
		return argumentError(method, args, err)
	}
	return nil
}

// unknownKeyword returns the first top-level key of the JSON object args
// that names no field of s.base. encoding/json itself decides: it decodes
// {"key": null} into a new value, strictly and then leniently. A null
// leaves a known field alone, so only the strict decoding of an unknown
// key fails; when both fail, the key reached a field whose UnmarshalJSON
// refuses null, so it is known.
func (s *argSpec) unknownKeyword(args json.RawMessage) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(args))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
		quoted, _ := json.Marshal(key) // a string always encodes
		probe := append(append([]byte("{"), quoted...), ":null}"...)
		strict := json.NewDecoder(bytes.NewReader(probe))
		strict.DisallowUnknownFields()
		if strict.Decode(reflect.New(s.base).Interface()) != nil &&
			json.Unmarshal(probe, reflect.New(s.base).Interface()) == nil {
			return key, true
		}
	}
	return "", false
}

// argumentError turns an encoding/json error for args into an
// *ArgumentError phrased as Python would.
func argumentError(method string, args json.RawMessage, err error) error {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		got := pythonTypeOfValue(te.Value)
		name := "keyword argument"
		if te.Field != "" {
			name = "argument '" + te.Field + "'"
		}
		want := pythonTypeOf(te.Type)
		if want == got {
			return &ArgumentError{Method: method, Err: wrapf(err, "%s value %s is out of range for %s", name, strings.TrimPrefix(te.Value, "number "), te.Type)}
		}
		return &ArgumentError{Method: method, Err: wrapf(err, "%s must be %s, not %s", name, want, got)}
	case !json.Valid(args):
		return &ArgumentError{Method: method, Err: wrapf(err, "keyword arguments are not valid JSON")}
	default:
		return &ArgumentError{Method: method, Err: wrapf(err, "got invalid keyword arguments: %v", err)}
	}
}

// argError is an ArgumentError's Err: a Python-style message that wraps
// the decoding error behind it.
type argError struct {
	msg string
	err error
}

func (e *argError) Error() string { return e.msg }
func (e *argError) Unwrap() error { return e.err }

func wrapf(err error, format string, a ...any) error {
	return &argError{msg: fmt.Sprintf(format, a...), err: err}
}

// pythonTypeOfValue names, as Python's type, the JSON value an
// UnmarshalTypeError describes ("string", "number 1.5", "array"...).
func pythonTypeOfValue(v string) string {
	switch v {
	case "string":
		return "str"
	case "bool":
		return "bool"
	case "array":
		return "list"
	case "object":
		return "dict"
	case "null":
		return "NoneType"
	}
	if lit, ok := strings.CutPrefix(v, "number "); ok {
		if strings.ContainsAny(lit, ".eE") {
			return "float"
		}
		return "int"
	}
	return v
}

// pythonTypeOf names, as Python's type, what a Go type accepts from JSON.
func pythonTypeOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "int"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.String:
		return "str"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "str" // base64
		}
		return "list"
	case reflect.Array:
		return "list"
	case reflect.Map, reflect.Struct:
		return "dict"
	}
	return t.String()
}

// CheckArgs returns an *ArgumentError for method unless args starts a JSON
// object, as Python's f(**args) requires a mapping: "f() argument after **
// must be a mapping, not list". It looks no further than the first value
// byte; decoding finds the rest. Typed handlers and the dispatcher call it;
// a HandlerFunc served by the dispatcher never needs to.
func CheckArgs(method string, args json.RawMessage) error {
	b := bytes.TrimLeft(args, " \t\r\n")
	if len(b) > 0 && b[0] == '{' {
		return nil
	}
	return &ArgumentError{Method: method, Err: fmt.Errorf("argument after ** must be a mapping, not %s", pythonTypeAt(b))}
}

// pythonTypeAt names, as Python's type, the JSON value b starts with.
func pythonTypeAt(b []byte) string {
	if len(b) == 0 {
		return "NoneType"
	}
	switch b[0] {
	case '[':
		return "list"
	case '"':
		return "str"
	case 't', 'f':
		return "bool"
	case 'n':
		return "NoneType"
	}
	if end := bytes.IndexAny(b, " \t\r\n,]}"); end >= 0 {
		b = b[:end]
	}
	if bytes.ContainsAny(b, ".eE") {
		return "float"
	}
	return "int"
}

// isSpace reports whether b holds only JSON whitespace.
func isSpace(b []byte) bool {
	return len(bytes.TrimLeft(b, " \t\r\n")) == 0
}
