package endpoints

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"
)

// FromObject returns an endpoint serving the exported methods of obj, the
// way oslo.messaging serves the public methods of an endpoint object. Each
// method must have the signature
//
//	func (T) Name(ctx context.Context, args A) (R, error)
//
// with A as Typed accepts; its arguments are decoded as Typed does. It is
// registered under its name in snake case: Divide as "divide", GetStats as
// "get_stats", HTTPStatus as "http_status", ListIDs as "list_ids".
//
// Methods are looked up once, here; a call runs the method without any
// lookup by name. Like any Handler, the methods may be called from many
// goroutines at once. An exported method with another signature, a nil obj or
// one without exported methods (pass a pointer if the methods have pointer
// receivers), and two methods with the same snake-case name, are
// registration errors reported by Err.
func FromObject(obj any, opts ...Option) *Endpoint {
	e := New(opts...)
	v := reflect.ValueOf(obj)
	if obj == nil || (v.Kind() == reflect.Pointer && v.IsNil()) {
		e.fail(fmt.Errorf("%w: FromObject of nil %T", ErrInvalid, obj))
		return e
	}
	t := v.Type()
	if t.NumMethod() == 0 {
		hint := ""
		if reflect.PointerTo(t).NumMethod() > 0 {
			hint = " (its methods have pointer receivers: pass a pointer)"
		}
		e.fail(fmt.Errorf("%w: %s has no exported methods%s", ErrInvalid, t, hint))
		return e
	}
	for i := range t.NumMethod() {
		m := t.Method(i)
		name := snakeCase(m.Name)
		h, err := newMethodHandler(name, v.Method(i))
		if err != nil {
			e.fail(fmt.Errorf("%w: method %s of %s: %w", ErrInvalid, m.Name, t, err))
			continue
		}
		e.Handle(name, h)
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
