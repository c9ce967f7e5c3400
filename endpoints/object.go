package endpoints

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"
)

// FromObject returns an endpoint serving the exported methods of obj, the
// way oslo.messaging serves the public methods of an endpoint object. An
// RPC method has the signature
//
//	func (T) Name(ctx context.Context, args A) (R, error)
//
// with A as Typed accepts; its arguments are decoded as Typed does. It is
// registered under its name in snake case: Divide as "divide", GetStats as
// "get_stats", HTTPStatus as "http_status", ListIDs as "list_ids".
//
// Exported methods of any other signature, such as String or Close, are
// not RPC methods and are skipped. Exclude leaves out RPC methods by name.
//
// Methods are looked up once, here; a call runs the method without any
// lookup by name. Like any Handler, the methods may be called from many
// goroutines at once. A nil obj, an obj without any RPC method (pass a
// pointer if the methods have pointer receivers), a method of the RPC
// shape whose A cannot hold keyword arguments, two methods with the same
// snake-case name, and an Exclude naming no exported method are
// registration errors reported by Err.
func FromObject(obj any, opts ...Option) *Endpoint {
	e := newEndpoint(opts)
	v := reflect.ValueOf(obj)
	if obj == nil || (v.Kind() == reflect.Pointer && v.IsNil()) {
		e.fail(fmt.Errorf("%w: FromObject of nil %T", ErrInvalid, obj))
		return e
	}
	t := v.Type()
	for name := range e.exclude {
		if _, ok := t.MethodByName(name); !ok {
			e.fail(fmt.Errorf("%w: Exclude(%q): %s has no exported method %s", ErrInvalid, name, t, name))
		}
	}
	registered := 0
	for i := range t.NumMethod() {
		m := t.Method(i)
		if e.exclude[m.Name] || !rpcShaped(v.Method(i).Type()) {
			continue
		}
		name := snakeCase(m.Name)
		h, err := newMethodHandler(name, v.Method(i))
		if err != nil {
			e.fail(fmt.Errorf("%w: method %s of %s: %w", ErrInvalid, m.Name, t, err))
			continue
		}
		e.Handle(name, h)
		registered++
	}
	if registered == 0 && e.err == nil {
		hint := ""
		if v.Kind() != reflect.Pointer && reflect.PointerTo(t).NumMethod() > t.NumMethod() {
			hint = " (it has methods with pointer receivers: pass a pointer)"
		}
		e.fail(fmt.Errorf("%w: %s has no method of the form func(context.Context, A) (R, error)%s", ErrInvalid, t, hint))
	}
	return e
}

// snakeCase converts a Go method name to the snake case Python uses:
// a word starts at an upper-case letter that follows a lower-case letter
// or digit, and at the last upper-case letter of an acronym followed by a
// lower-case letter (HTTPStatus -> http_status). A lone "s" after an
// acronym is its plural (ListIDs -> list_ids).
func snakeCase(name string) string {
	rs := []rune(name)
	var b strings.Builder
	for i, r := range rs {
		if !unicode.IsUpper(r) {
			b.WriteRune(r)
			continue
		}
		if i > 0 {
			prev := rs[i-1]
			switch {
			case unicode.IsLower(prev), unicode.IsDigit(prev):
				b.WriteByte('_')
			case unicode.IsUpper(prev) && i+1 < len(rs) && unicode.IsLower(rs[i+1]) && !isPluralS(rs, i+1):
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// isPluralS reports whether rs[i] is an "s" that ends a word.
func isPluralS(rs []rune, i int) bool {
	return rs[i] == 's' && (i+1 == len(rs) || !unicode.IsLower(rs[i+1]))
}
