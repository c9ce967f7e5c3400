package rpcserver

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

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

// castLogInterval is how often LogErrors logs the failures of casts of one
// method at most.
const castLogInterval = time.Second

// LogErrors returns an interceptor that logs, to l, the errors of what it
// wraps: a panic (an *rpcerr.PanicError, from Recover inside it) at error
// level with its stack; a failing cast at warn level, since nobody else
// hears of it; a failing call at debug level, since its caller gets the
// error. So that a cast failing under load does not flood the log, it
// logs at most one failing cast per method a second: the next line says
// how many were left out (suppressed). A nil l logs nothing. A server
// installs it by default, with its Logger, outside Recover.
func LogErrors(l *slog.Logger) dispatcher.Interceptor {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	lim := &limiter{every: castLogInterval, now: time.Now, last: make(map[string]limited)}
	return logErrors(l, lim)
}

// limiter lets one event per key through every interval, counting those it
// holds back.
type limiter struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last map[string]limited
}

type limited struct {
	at         time.Time // when an event of the key was last let through
	suppressed int       // events held back since then
}

// allow reports whether an event of key may go through now, and how many
// were held back since the last one that did.
func (lim *limiter) allow(key string) (ok bool, suppressed int) {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	now := lim.now()
	st, seen := lim.last[key]
	if seen && now.Sub(st.at) < lim.every {
		st.suppressed++
		lim.last[key] = st
		return false, 0
	}
	if !seen && len(lim.last) >= maxLimitedKeys {
		// Method names come from callers, so a cast of a new name each
		// time must not grow the map forever: start counting afresh.
		clear(lim.last)
	}
	lim.last[key] = limited{at: now}
	return true, st.suppressed
}

// maxLimitedKeys bounds the methods a limiter remembers.
const maxLimitedKeys = 1024

func logErrors(l *slog.Logger, lim *limiter) dispatcher.Interceptor {
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
			if !l.Enabled(ctx, slog.LevelWarn) {
				break
			}
			if ok, suppressed := lim.allow(req.Method); ok {
				l.LogAttrs(ctx, slog.LevelWarn, "rpcserver: cast failed",
					slog.String("method", req.Method), slog.Any("error", err), slog.Int("suppressed", suppressed))
			}
		default:
			l.LogAttrs(ctx, slog.LevelDebug, "rpcserver: call failed",
				slog.String("method", req.Method), slog.Any("error", err))
		}
		return res, err
	}
}
