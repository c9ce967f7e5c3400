package rpcserver

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/serializer"
)

// Serializer sets how the server decodes the request context and
// arguments of each request, and encodes results (oslo's serializer). Nil,
// the default, is serializer.JSON: handlers find the caller's
// *serializer.RequestContext with serializer.RequestContextFrom(ctx), and
// results are encoded with encoding/json.
func Serializer(s serializer.Serializer) Option {
	return func(o *options) { o.ser = s }
}

// invoke runs req through the serializer, the server's interceptors and
// the dispatcher: the request context and arguments are deserialized
// before the interceptors run, the result of a call serialized after. A
// cast's result goes nowhere and is not serialized: one that could not be
// is no failure of the cast.
func (s *Server) invoke(ctx context.Context, req *message.Request) (json.RawMessage, error) {
	ser := s.opt.ser
	if ser == nil {
		ser = serializer.JSON{}
	}
	ctx, err := ser.DeserializeContext(ctx, req.Context)
	if err != nil {
		return nil, fmt.Errorf("rpcserver: decoding the request context: %w", err)
	}
	args := req.Args
	if len(args) > 0 {
		if args, err = ser.DeserializeEntity(ctx, args); err != nil {
			return nil, fmt.Errorf("rpcserver: decoding the arguments of %q: %w", req.Method, err)
		}
	}
	// The dispatcher puts req.Context in the handler's ctx and treats
	// missing args as {}.
	result, err := s.chain(ctx, &dispatcher.Request{
		Method:         req.Method,
		Namespace:      req.Namespace,
		EmptyNamespace: req.EmptyNamespace,
		Version:        req.Version,
		Args:           args,
		Context:        req.Context,
		Headers:        req.Headers,
		Cast:           !req.IsCall(),
		Target:         s.tgt,
		MsgID:          req.MsgID,
		UniqueID:       req.UniqueID,
	})
	if err != nil || !req.IsCall() {
		return nil, err
	}
	b, err := ser.SerializeEntity(ctx, result)
	if err != nil {
		return nil, fmt.Errorf("rpcserver: encoding the result of %q: %w", req.Method, err)
	}
	return b, nil
}
