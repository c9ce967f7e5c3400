package rpcserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/transport"
)

// handle runs one request on a worker and replies to it. ctx is the Serve
// context: cancelled by Close, not by Shutdown.
func (s *Server) handle(ctx context.Context, r *serveRun, in transport.Incoming) {
	req, deadline := in.Request(), in.Deadline()
	hctx := ctx
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		hctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}

	stop := s.heartbeat(ctx, r, in, req)
	result, err := s.dispatch(hctx, req)
	stop()

	if err != nil {
		s.logFailure(ctx, req, err)
	}
	if !req.IsCall() {
		return
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		// The caller stopped waiting at the deadline. A reply now, often
		// the handler's own "deadline exceeded" error, would race with
		// the caller's timeout and could be taken for the method's answer.
		s.opt.log.LogAttrs(ctx, slog.LevelDebug, "rpcserver: not replying after the caller's deadline",
			slog.String("method", req.Method), slog.String("msg_id", req.MsgID))
		return
	}
	rep := &message.Reply{Result: result}
	if err != nil {
		rep = &message.Reply{Failure: failureOf(err)}
	}
	if err := in.Reply(ctx, rep); err != nil {
		s.opt.log.LogAttrs(ctx, slog.LevelWarn, "rpcserver: sending a reply",
			slog.String("method", req.Method), slog.String("msg_id", req.MsgID), slog.Any("error", err))
	}
}

// dispatch runs the request's method, turning a panic into an error.
func (s *Server) dispatch(ctx context.Context, req *message.Request) (result json.RawMessage, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	// The dispatcher puts req.Context in the handler's ctx and treats
	// missing args as {}.
	return s.d.Dispatch(ctx, &dispatcher.Request{
		Method:    req.Method,
		Namespace: req.Namespace,
		Version:   req.Version,
		Args:      req.Args,
		Context:   req.Context,
	})
}

func (s *Server) logFailure(ctx context.Context, req *message.Request, err error) {
	var pe *panicError
	if errors.As(err, &pe) {
		s.opt.log.LogAttrs(ctx, slog.LevelError, "rpcserver: handler panicked",
			slog.String("method", req.Method), slog.String("msg_id", req.MsgID),
			slog.Any("panic", pe.value), slog.String("stack", string(pe.stack)))
		return
	}
	s.opt.log.LogAttrs(ctx, slog.LevelDebug, "rpcserver: handler returned an error",
		slog.String("method", req.Method), slog.String("msg_id", req.MsgID), slog.Any("error", err))
}

// heartbeatInterval is oslo's watchdog interval for a call-monitor timeout:
// int(timeout)/2 seconds, none when that is below one second.
func heartbeatInterval(callMonitor time.Duration) time.Duration {
	whole := callMonitor.Truncate(time.Second)
	if iv := whole / 2; iv >= time.Second {
		return iv
	}
	return 0
}

// heartbeat sends call-monitor heartbeats for req until the returned stop
// function is called; stop returns once no heartbeat is being sent, so the
// final reply never overlaps one.
func (s *Server) heartbeat(ctx context.Context, r *serveRun, in transport.Incoming, req *message.Request) (stop func()) {
	iv := heartbeatInterval(req.CallMonitor)
	if !req.IsCall() || iv == 0 {
		return func() {}
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	r.spawn(func() {
		defer close(done)
		t := time.NewTicker(iv)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := in.Heartbeat(ctx); err != nil {
					// As oslo's watchdog: the first failure ends the heartbeats.
					s.opt.log.LogAttrs(ctx, slog.LevelWarn, "rpcserver: sending a heartbeat",
						slog.String("method", req.Method), slog.String("msg_id", req.MsgID), slog.Any("error", err))
					return
				}
			}
		}
	})
	return func() {
		close(quit)
		<-done
	}
}

// panicError is a handler's panic, reported to the caller as a
// RuntimeError with the Go stack as traceback.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// failureOf describes err for the caller. An endpoints.Classed error gives
// its class and module, an *endpoints.Error also its message, args and
// kwargs; anything else is a builtins.RuntimeError with err's text.
func failureOf(err error) *message.Failure {
	f := &message.Failure{
		Class:     "RuntimeError",
		Module:    "builtins",
		Message:   err.Error(),
		Traceback: []string{},
	}
	var (
		pe *panicError
		ee *endpoints.Error
		ce endpoints.Classed
	)
	switch {
	case errors.As(err, &pe):
		f.Message = pe.Error()
		f.Traceback = stackLines(pe.stack)
	case errors.As(err, &ee):
		f.Class, f.Module = ee.ExceptionClass()
		f.Message = ee.Message
		f.Args, f.Kwargs = ee.Args, ee.Kwargs
	case errors.As(err, &ce):
		f.Class, f.Module = ce.ExceptionClass()
		f.Message = ce.Error()
	}
	if f.Args == nil {
		f.Args = []any{f.Message}
	}
	if f.Kwargs == nil {
		f.Kwargs = map[string]any{}
	}
	return f
}

// stackLines splits a Go stack into traceback entries, each ending in a
// newline as Python's formatted traceback entries do.
func stackLines(stack []byte) []string {
	lines := strings.SplitAfter(string(stack), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	return lines
}
