package endpoints

import "context"

type requestContextKey struct{}

// WithRequestContext returns a copy of ctx that carries m as the caller's
// request context, or ctx itself when m is nil and ctx carries none. The
// dispatcher calls it before running a handler.
func WithRequestContext(ctx context.Context, m map[string]any) context.Context {
	if m == nil && RequestContext(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, requestContextKey{}, m)
}

// RequestContext returns the caller's request context carried by ctx: the
// entries an oslo.messaging caller sends as _context_<key>, keyed without
// the prefix. It returns nil if there is none. Handlers must not modify it.
func RequestContext(ctx context.Context) map[string]any {
	m, _ := ctx.Value(requestContextKey{}).(map[string]any)
	return m
}
