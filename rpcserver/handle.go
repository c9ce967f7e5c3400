package rpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/transport"
)

// replyTimeout bounds sending the reply to a request without a deadline
// whose handler shutdown cancelled.
const replyTimeout = 10 * time.Second

// handle runs one request on a worker and replies to it. ctx is cancelled
// when shutdown stops handlers, with errShutdown as its cause.
func (s *Server) handle(ctx context.Context, r *serveRun, in transport.Incoming) {
	req, deadline := in.Request(), in.Deadline()
	hctx := ctx
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		hctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}

	stop := s.heartbeat(ctx, r, in, req)
	result, err := s.invoke(hctx, req)
	stop()
	if err != nil {
		s.failed.Add(1)
	}
	if st, ok := in.(transport.Settler); ok {
		// An at-least-once cast: acked now it is handled, or handed
		// out again after a failure.
		st.Settle(err)
	}

	if !req.IsCall() {
		return
	}
	if err != nil && errors.Is(context.Cause(hctx), errShutdown) {
		err = &rpcerr.Error{Class: rpcerr.ClassServerShuttingDown, Module: rpcerr.Module,
			Message: fmt.Sprintf("the server stopped method %s as it shut down: %v", req.Method, err)}
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		// The caller stopped waiting at the deadline. A reply now, often
		// the handler's own "deadline exceeded" error, would race with
		// the caller's timeout and could be taken for the method's answer.
		s.opt.log.LogAttrs(ctx, slog.LevelDebug, "rpcserver: not replying after the caller's deadline",
			slog.String("method", req.Method), slog.String("msg_id", req.MsgID))
		return
	}
	rctx := hctx
	if hctx.Err() != nil {
		// Shutdown cancelled the handler: the reply goes out all the same,
		// within the caller's deadline.
		var cancel context.CancelFunc
		if deadline.IsZero() {
			rctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), replyTimeout)
		} else {
			rctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), deadline)
		}
		defer cancel()
	}
	s.reply(rctx, in, req, result, err)
}

// reply sends the result or the error to the caller. A reply too large for
// the transport is replaced by a MessageTooLarge failure, so that the
// caller does not wait out its deadline.
func (s *Server) reply(ctx context.Context, in transport.Incoming, req *message.Request, result []byte, err error) {
	rep := &message.Reply{Result: result}
	if err != nil {
		rep = &message.Reply{Failure: rpcerr.FailureOf(err)}
	}
	err = in.Reply(ctx, rep)
	if errors.Is(err, transport.ErrMessageTooLarge) {
		s.opt.log.LogAttrs(ctx, slog.LevelWarn, "rpcserver: the reply is too large; sending a failure instead",
			slog.String("method", req.Method), slog.String("msg_id", req.MsgID), slog.Any("error", err))
		tooLarge := &rpcerr.Error{Class: rpcerr.ClassMessageTooLarge, Module: rpcerr.Module,
			Message: fmt.Sprintf("the reply of method %s is too large to send: %v", req.Method, err)}
		err = in.Reply(ctx, &message.Reply{Failure: rpcerr.FailureOf(tooLarge)})
	}
	if err != nil {
		s.opt.log.LogAttrs(ctx, slog.LevelWarn, "rpcserver: sending a reply",
			slog.String("method", req.Method), slog.String("msg_id", req.MsgID), slog.Any("error", err))
	}
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
