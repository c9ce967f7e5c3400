package rpcerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// Registry maps exception classes to the Go error types a client rebuilds
// from failures of those classes (see FromFailure). Build it with
// NewRegistry; it never changes afterwards, so it is safe for concurrent
// use and may be shared by many clients. A nil *Registry has no types.
type Registry struct {
	types map[classKey]reflect.Type
}

// ErrInvalidRegistry is the condition every NewRegistry error matches.
var ErrInvalidRegistry = errors.New("rpcerr: invalid registry")

// NewRegistry returns a registry of the types of errs, each under the
// class and module its ExceptionClass returns. The values only name their
// types: a failure of a registered class becomes a new value of that type,
// its fields decoded with encoding/json from the failure's kwargs, which
// is what FailureOf sends for it. errs must be non-nil values of distinct
// classes outside builtins (whose failures carry no fields), and not
// *Error, whose class is per value.
func NewRegistry(errs ...Classed) (*Registry, error) {
	r := &Registry{types: make(map[classKey]reflect.Type, len(errs))}
	for i, e := range errs {
		if e == nil || (reflect.ValueOf(e).Kind() == reflect.Pointer && reflect.ValueOf(e).IsNil()) {
			return nil, fmt.Errorf("%w: error %d is nil", ErrInvalidRegistry, i)
		}
		if _, ok := e.(*Error); ok {
			return nil, fmt.Errorf("%w: error %d: *rpcerr.Error has no fixed class; register a type of your own", ErrInvalidRegistry, i)
		}
		class, module := e.ExceptionClass()
		k := classKey{class, module}
		switch {
		case module == builtins:
			return nil, fmt.Errorf("%w: %T: class %s.%s: builtins failures carry no fields", ErrInvalidRegistry, e, module, class)
		case r.types[k] != nil:
			return nil, fmt.Errorf("%w: class %s.%s registered for %s and %T", ErrInvalidRegistry, module, class, r.types[k], e)
		}
		r.types[k] = reflect.TypeOf(e)
	}
	return r, nil
}

// rebuild returns a new value of the type registered for class and module,
// decoded from kwargs, or nil.
func (r *Registry) rebuild(class, module string, kwargs map[string]any) error {
	if r == nil {
		return nil
	}
	t := r.types[classKey{class, module}]
	if t == nil {
		return nil
	}
	v := reflect.New(t)
	if len(kwargs) > 0 {
		b, err := json.Marshal(kwargs)
		if err != nil || json.Unmarshal(b, v.Interface()) != nil {
			return nil
		}
	}
	if t.Kind() == reflect.Pointer && v.Elem().IsNil() {
		v.Elem().Set(reflect.New(t.Elem()))
	}
	err, _ := v.Elem().Interface().(error)
	return err
}
