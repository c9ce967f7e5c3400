package rpcclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/warrenrpc/warren/internal/jsonnum"
	"github.com/warrenrpc/warren/serializer"
)

// Serializer sets how the client encodes arguments and the request
// context, and decodes results (oslo's serializer). Nil, the default, is
// serializer.JSON: encoding/json, and the *serializer.RequestContext of the
// call's ctx.
func Serializer(s serializer.Serializer) Option {
	return func(st *settings) { st.ser = s }
}

// serializerOf returns the client's serializer.
func (c *Client) serializerOf() serializer.Serializer {
	if c.s.ser == nil {
		return serializer.JSON{}
	}
	return c.s.ser
}

// encodeArgs encodes args as the JSON object of keyword arguments. Nil,
// and values that encode to null (a nil map), mean no arguments.
func (c *Client) encodeArgs(ctx context.Context, args any) (json.RawMessage, error) {
	if args == nil {
		return nil, nil
	}
	raw, err := c.serializerOf().SerializeEntity(ctx, args)
	if err != nil {
		return nil, fmt.Errorf("encoding arguments: %w", err)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, jsonNull) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("arguments must encode to a JSON object of keyword arguments, but %T does not", args)
	}
	return raw, nil
}

// requestContext returns the request context a request made with ctx
// sends: the RequestContext option's entries, with those the serializer
// finds on ctx laid over them key by key.
func (c *Client) requestContext(ctx context.Context) (map[string]any, error) {
	fromCtx, err := c.serializerOf().SerializeContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("encoding the request context: %w", err)
	}
	if len(fromCtx) == 0 {
		return c.s.reqContext, nil
	}
	if len(c.s.reqContext) == 0 {
		return fromCtx, nil
	}
	m := maps.Clone(c.s.reqContext)
	maps.Copy(m, fromCtx)
	return m, nil
}

// decodeResult decodes a call's result into reply, after the serializer.
func (c *Client) decodeResult(ctx context.Context, result json.RawMessage, reply any) error {
	result, err := c.serializerOf().DeserializeEntity(ctx, result)
	if err != nil {
		return fmt.Errorf("decoding the result: %w", err)
	}
	if err := jsonnum.Unmarshal(result, reply); err != nil {
		return fmt.Errorf("decoding the result into %T: %w", reply, err)
	}
	return nil
}
