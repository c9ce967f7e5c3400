package replywait

import (
	"context"
	"sync"
	"time"

	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/transport"
)

// Waiters is the set of calls waiting for replies on one transport. It is
// safe for concurrent use.
type Waiters struct {
	mu sync.Mutex
	m  map[string]*Waiter
}

// New returns an empty set of waiters.
func New() *Waiters {
	return &Waiters{m: make(map[string]*Waiter)}
}

// Waiter is one call waiting for its reply. Wait and Cancel may be called
// from one goroutine; Deliver and FailAll reach it from any.
type Waiter struct {
	ws    *Waiters
	msgID string
	tag   any           // what RegisterTagged was given; nil from Register
	wake  chan struct{} // capacity 1: news below (a heartbeat, the outcome)

	mu      sync.Mutex
	partial []byte // result of a legacy reply that has not ended yet
	ended   bool   // the first completion wins
	reply   *message.Reply
	err     error
}

// Register reserves msgID and returns the waiter its replies go to. The
// caller must end it with Wait or Cancel.
func (ws *Waiters) Register(msgID string) *Waiter {
	return ws.RegisterTagged(msgID, nil)
}

// RegisterTagged is Register with a tag, a comparable value that
// FailTagged matches, such as where the call went.
func (ws *Waiters) RegisterTagged(msgID string, tag any) *Waiter {
	w := &Waiter{ws: ws, msgID: msgID, tag: tag, wake: make(chan struct{}, 1)}
	ws.mu.Lock()
	ws.m[msgID] = w
	ws.mu.Unlock()
	return w
}

// Len returns how many calls are waiting.
func (ws *Waiters) Len() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.m)
}

// Deliver hands m to the call it answers. It returns false when no call
// waits for m.MsgID (a late reply, or one for another process).
func (ws *Waiters) Deliver(m *wire.ReplyMessage) bool {
	ws.mu.Lock()
	w, ok := ws.m[m.MsgID]
	if ok && (m.Failure != nil || m.Ending) {
		delete(ws.m, m.MsgID)
	}
	ws.mu.Unlock()
	if !ok {
		return false
	}
	switch {
	case m.Failure != nil:
		w.complete(&message.Reply{Failure: m.Failure}, nil)
	case m.Ending:
		w.mu.Lock()
		result := []byte(m.Result)
		if result == nil {
			result = w.partial
		}
		w.mu.Unlock()
		w.complete(&message.Reply{Result: result}, nil)
	default:
		if !m.IsHeartbeat() {
			w.mu.Lock()
			w.partial = m.Result
			w.mu.Unlock()
		}
		w.signal()
	}
	return true
}

// complete records the call's outcome, unless it has one already, and
// wakes Wait.
func (w *Waiter) complete(r *message.Reply, err error) {
	w.mu.Lock()
	if !w.ended {
		w.ended, w.reply, w.err = true, r, err
	}
	w.mu.Unlock()
	w.signal()
}

// signal wakes Wait; wake-ups coalesce.
func (w *Waiter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// outcome returns the call's outcome once it has one.
func (w *Waiter) outcome() (r *message.Reply, ok bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reply, w.ended, w.err
}

// Fail ends the call waiting for msgID with err, for instance when its
// reply arrived but could not be decoded. It returns false when no call
// waits for msgID.
func (ws *Waiters) Fail(msgID string, err error) bool {
	ws.mu.Lock()
	w, ok := ws.m[msgID]
	delete(ws.m, msgID)
	ws.mu.Unlock()
	if ok {
		w.complete(nil, err)
	}
	return ok
}

// FailAll ends every waiting call with err.
func (ws *Waiters) FailAll(err error) {
	ws.mu.Lock()
	pending := ws.m
	ws.m = make(map[string]*Waiter)
	ws.mu.Unlock()
	for _, w := range pending {
		w.complete(nil, err)
	}
}

// FailTagged ends with err every waiting call registered with tag, and
// returns how many it ended. A nil tag matches nothing.
func (ws *Waiters) FailTagged(tag any, err error) int {
	if tag == nil {
		return 0
	}
	var ended []*Waiter
	ws.mu.Lock()
	for id, w := range ws.m {
		if w.tag == tag {
			delete(ws.m, id)
			ended = append(ended, w)
		}
	}
	ws.mu.Unlock()
	for _, w := range ended {
		w.complete(nil, err)
	}
	return len(ended)
}

// Cancel drops the registration; replies that arrive later are reported as
// late by Deliver.
func (w *Waiter) Cancel() {
	w.ws.mu.Lock()
	if w.ws.m[w.msgID] == w {
		delete(w.ws.m, w.msgID)
	}
	w.ws.mu.Unlock()
}

// Wait blocks until the call's final reply arrives, the call fails, or ctx
// ends. When monitor is positive, the call also ends when no reply or
// heartbeat arrives within monitor. Running out of time gives a
// *transport.TimeoutError; a ctx cancelled for another reason gives
// ctx.Err(). Wait removes the registration before it returns.
func (w *Waiter) Wait(ctx context.Context, monitor time.Duration) (*message.Reply, error) {
	// Many calls may wait at once, each on its caller's goroutine: the
	// waiting frames are kept few and small, so that those stacks shrink.
	if monitor > 0 {
		return w.monitored(ctx, monitor)
	}
	for {
		select {
		case <-w.wake:
		case <-ctx.Done():
			return w.late(ctx)
		}
		// News is the outcome, or a heartbeat or half a legacy reply.
		if r, ok, err := w.outcome(); ok {
			w.Cancel()
			return r, err
		}
	}
}

// monitored is Wait that also ends when no news came within monitor.
func (w *Waiter) monitored(ctx context.Context, monitor time.Duration) (*message.Reply, error) {
	timer := time.NewTimer(monitor)
	defer timer.Stop()
	for {
		select {
		case <-w.wake:
			if r, ok, err := w.outcome(); ok {
				w.Cancel()
				return r, err
			}
			timer.Reset(monitor) // a heartbeat
		case <-timer.C:
			w.Cancel()
			return nil, &transport.TimeoutError{MsgID: w.msgID, Heartbeat: true}
		case <-ctx.Done():
			return w.late(ctx)
		}
	}
}

// late returns what a call whose ctx ended gets: its reply when one
// arrived meanwhile, else a *transport.TimeoutError or ctx's error. It
// removes the registration.
func (w *Waiter) late(ctx context.Context) (*message.Reply, error) {
	w.Cancel()
	if r, ok, err := w.outcome(); ok && err == nil {
		return r, nil
	}
	if ctx.Err() == context.DeadlineExceeded {
		return nil, &transport.TimeoutError{MsgID: w.msgID}
	}
	return nil, ctx.Err()
}
