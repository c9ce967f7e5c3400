package rpcserver

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/rpcerr"
)

// Recover returns an interceptor that turns a panic of what it wraps into
// an *rpcerr.PanicError, which the caller receives as a RuntimeError
// "panic: ..." with the Go stack as traceback; the server keeps serving.
// A server installs it by default.
func Recover() dispatcher.Interceptor {
	return func(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (res any, err error) {
		defer func() {
			if v := recover(); v != nil {
				res, err = nil, &rpcerr.PanicError{Value: v, Stack: debug.Stack()}
			}
		}()
		return next(ctx, req)
	}
}

// LogErrors returns an interceptor that logs, to l, the errors of what it
// wraps: a panic (an *rpcerr.PanicError, from Recover inside it) at error
// level with its stack; a failing cast at warn level, since nobody else
// hears of it; a failing call at debug level, since its caller gets the
// error. A nil l logs nothing. A server installs it by default, with its
// Logger, outside Recover.
func LogErrors(l *slog.Logger) dispatcher.Interceptor {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (any, error) {
		res, err := next(ctx, req)
		if err == nil {
			return res, nil
		}
		var pe *rpcerr.PanicError
		switch {
		case errors.As(err, &pe):
			l.LogAttrs(ctx, slog.LevelError, "rpcserver: handler panicked",
				slog.String("method", req.Method), slog.Bool("cast", req.Cast),
				slog.Any("panic", pe.Value), slog.String("stack", string(pe.Stack)))
		case req.Cast:
			l.LogAttrs(ctx, slog.LevelWarn, "rpcserver: cast failed",
				slog.String("method", req.Method), slog.Any("error", err))
		default:
			l.LogAttrs(ctx, slog.LevelDebug, "rpcserver: call failed",
				slog.String("method", req.Method), slog.Any("error", err))
		}
		return res, err
	}
}
