// Package jsonnum decodes JSON as encoding/json does, except that numbers
// decoded into an interface value become json.Number, so that integers
// beyond 2^53 (which Python sends as they are) keep every digit. It is for
// warren's own packages.
package jsonnum

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sync"
)

// Unmarshal is json.Unmarshal, with numbers decoded into interface values
// as json.Number. Destinations that can hold no interface value (an int, a
// struct of strings) take the plain json.Unmarshal path, which costs less.
func Unmarshal(data []byte, dst any) error {
	if !HoldsInterface(reflect.TypeOf(dst)) {
		return json.Unmarshal(data, dst)
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

// holds caches HoldsInterface by type.
var holds sync.Map // reflect.Type -> bool

// HoldsInterface reports whether decoding JSON into a value of type t can
// store into an interface value: t is, or contains through pointers,
// slices, arrays, maps and struct fields, an interface type. A nil t holds
// none.
func HoldsInterface(t reflect.Type) bool {
	if t == nil {
		return false
	}
	if v, ok := holds.Load(t); ok {
		return v.(bool)
	}
	v := holdsInterface(t, map[reflect.Type]bool{})
	holds.Store(t, v)
	return v
}

func holdsInterface(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // a recursive type: its other fields decide
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsInterface(t.Elem(), seen)
	case reflect.Map:
		return holdsInterface(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsInterface(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}
