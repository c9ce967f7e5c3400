// Package jsonnum decodes JSON as encoding/json does, except that numbers
// decoded into an interface value become json.Number, so that integers
// beyond 2^53 (which Python sends as they are) keep every digit. It is for
// warren's own packages.
package jsonnum

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"

	jsonv1 "github.com/go-json-experiment/json/v1"
)

// Unmarshal is json.Unmarshal, with numbers decoded into interface values
// as json.Number. Destinations that can hold no interface value (an int, a
// struct of strings) take the plain path (see Plain), which costs less.
func Unmarshal(data []byte, dst any) error {
	if !HoldsInterface(reflect.TypeOf(dst)) {
		return Plain(data, dst)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := dec.Decode(dst)
	if err == nil && len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) == 0 {
		return nil
	}
	if err != nil && json.Valid(data) {
		return err // a value of the wrong type, as json.Unmarshal reports it
	}
	// Not one JSON document: json.Unmarshal's syntax error, which it
	// reports before it stores anything.
	return json.Unmarshal(data, dst)
}

// HoldsInterface reports whether decoding JSON into a value of type t can
// store into an interface value: t is, or contains through pointers,
// slices, arrays, maps and struct fields, an interface type. A nil t holds
// none.
func HoldsInterface(t reflect.Type) bool { return interfaces.holds(t) }

var (
	interfaces = &typeSearch{is: func(t reflect.Type) bool { return t.Kind() == reflect.Interface }}
	// quotedNumbers finds struct fields with the ",string" option of their
	// json tag.
	quotedNumbers = &typeSearch{field: func(f reflect.StructField) bool {
		_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		return slices.Contains(strings.Split(opts, ","), "string")
	}}
)

// typeSearch finds whether a type is, or contains through pointers,
// slices, arrays, map values and struct fields, a type that is matches
// or a struct field that field matches (either may be nil), and caches
// the answer by type.
type typeSearch struct {
	is    func(reflect.Type) bool
	field func(reflect.StructField) bool
	cache sync.Map // reflect.Type -> bool
}

// holds reports whether t holds what s looks for; a nil t holds nothing.
func (s *typeSearch) holds(t reflect.Type) bool {
	if t == nil {
		return false
	}
	if v, ok := s.cache.Load(t); ok {
		return v.(bool)
	}
	v := s.search(t, map[reflect.Type]bool{})
	s.cache.Store(t, v)
	return v
}

func (s *typeSearch) search(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // a recursive type: its other fields decide
	}
	seen[t] = true
	if s.is != nil && s.is(t) {
		return true
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return s.search(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if s.field != nil && s.field(f) || s.search(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

// Plain is json.Unmarshal, decoded by the implementation of encoding/json
// that Go 1.27 builds by default, encoding/json's API on top of
// encoding/json/v2 (module github.com/go-json-experiment/json, package
// v1), which decodes 4 to 6 times faster than Go 1.26's (a 100-byte
// struct in 0.6-0.9 µs instead of 2.3, a 1 MB string in 2.1 ms instead of
// 12). A document it refuses is decoded again by encoding/json, so that
// the error is encoding/json's own; FuzzPlain holds the two to the same
// results. Destinations with a ",string" field option take
// encoding/json's path alone: the two read those options differently
// ("+0" into an int).
func Plain(data []byte, dst any) error {
	if !quotedNumbers.holds(reflect.TypeOf(dst)) && jsonv1.Unmarshal(data, dst) == nil {
		return nil
	}
	return json.Unmarshal(data, dst)
}
