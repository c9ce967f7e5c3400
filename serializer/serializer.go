package serializer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrMalformed means a request context or an entity that arrived does not
// have the shape its serializer needs, such as a user that is not a string
// or a versioned object without data.
var ErrMalformed = errors.New("serializer: malformed")

// Serializer turns what a program sends into JSON and what it receives back
// into something the program can use, as oslo.messaging's Serializer does.
// Clients use it for arguments, results and the request context of calls
// and casts, servers for the same on the other side, and notifiers and
// listeners for payloads and contexts.
//
// Entities (keyword arguments, results, payloads) are Go values on the way
// out and JSON on the way in: a typed handler, or the reply pointer given
// to a call, decodes the JSON DeserializeEntity returns, so a serializer
// reshapes JSON rather than building Go values.
//
// A Serializer is used from many goroutines at once.
type Serializer interface {
	// SerializeEntity encodes v, going out with the request or reply of
	// ctx, as JSON.
	SerializeEntity(ctx context.Context, v any) (json.RawMessage, error)
	// DeserializeEntity turns data, received with the request or reply of
	// ctx, into the JSON the program decodes. It must not keep data.
	DeserializeEntity(ctx context.Context, data json.RawMessage) (json.RawMessage, error)
	// SerializeContext returns the request context ctx carries as the
	// entries sent as _context_<key>, or nil for none. The map is the
	// caller's to keep.
	SerializeContext(ctx context.Context) (map[string]any, error)
	// DeserializeContext returns ctx carrying the request context received
	// as m (keyed without the _context_ prefix; nil when none came). It
	// must not modify m.
	DeserializeContext(ctx context.Context, m map[string]any) (context.Context, error)
}

// JSON is the default Serializer: entities are encoded with encoding/json
// and received unchanged, and the request context is a *RequestContext
// (see WithRequestContext and RequestContextFrom).
type JSON struct{}

var _ Serializer = JSON{}

// SerializeEntity returns json.Marshal(v).
func (JSON) SerializeEntity(_ context.Context, v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("serializer: %w", err)
	}
	return b, nil
}

// DeserializeEntity returns data unchanged.
func (JSON) DeserializeEntity(_ context.Context, data json.RawMessage) (json.RawMessage, error) {
	return data, nil
}

// SerializeContext returns the entries of the *RequestContext ctx carries,
// as RequestContext.Map does, or nil when it carries none.
func (JSON) SerializeContext(ctx context.Context) (map[string]any, error) {
	return RequestContextFrom(ctx).Map(), nil
}

// DeserializeContext parses m with ParseRequestContext and returns ctx
// carrying the result; ctx itself when m is empty.
func (JSON) DeserializeContext(ctx context.Context, m map[string]any) (context.Context, error) {
	if len(m) == 0 {
		return ctx, nil
	}
	rc, err := ParseRequestContext(m)
	if err != nil {
		return nil, err
	}
	return WithRequestContext(ctx, rc), nil
}
