package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/warrenrpc/warren/serializer"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// ErrListenerClosed is what Serve and Listen return after Shutdown or
// Close.
var ErrListenerClosed = errors.New("notify: listener closed")

var (
	// errServing is what a second concurrent Serve returns.
	errServing = errors.New("notify: Serve is already running")
	// errShutdown is the cause with which a stop cancels the contexts of
	// running handlers.
	errShutdown = errors.New("notify: listener shutting down")
)

// Defaults of the listener options.
const (
	// DefaultWorkers is how many notifications, or batches, a listener
	// handles at once, as oslo.messaging's executor_thread_pool_size.
	DefaultWorkers = 64
	// DefaultMaxRequeues is how many times a notification is requeued
	// before a failing handler's verdict is ignored and it is dropped.
	DefaultMaxRequeues = 3
	// DefaultGracePeriod is how long running handlers may go on once the
	// ctx given to Serve ended, as the RPC server's default.
	DefaultGracePeriod = 20 * time.Second
)

type listenerSettings struct {
	pool         string
	workers      int
	maxRequeues  int
	log          *slog.Logger
	onListen     func()
	interceptors []Interceptor
	grace        time.Duration
	ser          serializer.Serializer
}

// ListenerOption changes a setting of a Listener.
type ListenerOption func(*listenerSettings)

// Pool makes the listener share its notifications with the other
// listeners of pool name, Go or Python: each notification goes to one of
// them. The pool's queue is named name, as oslo.messaging names it, and
// receives the notifications sent after it was first declared. Every pool
// gets every notification. Empty means no pool: the listeners in no pool
// share the queue <topic>.<priority> as one more pool, the one publishers
// declare, where notifications wait until a listener comes.
func Pool(name string) ListenerOption { return func(s *listenerSettings) { s.pool = name } }

// Workers sets how many notifications (or batches) are handled at once.
// The listener takes a notification from the transport only when a worker
// is free. n below 1 means DefaultWorkers.
func Workers(n int) ListenerOption {
	return func(s *listenerSettings) {
		if n < 1 {
			n = DefaultWorkers
		}
		s.workers = n
	}
}

// Ordered handles one notification (or batch) at a time, in the order the
// transport hands them out: queue order within each queue. It is
// Workers(1).
func Ordered() ListenerOption { return Workers(1) }

// MaxRequeues sets how many times one notification may be requeued by
// failing handlers; once delivered that many times more, a failure is
// logged and the notification dropped, so one bad notification cannot
// loop forever. Zero means DefaultMaxRequeues; below zero, notifications
// are never requeued.
func MaxRequeues(n int) ListenerOption {
	return func(s *listenerSettings) {
		if n == 0 {
			n = DefaultMaxRequeues
		}
		s.maxRequeues = n
	}
}

// Logger sets where the listener logs: handler failures and requeues
// (warn), panics (error), dropped notifications (warn). Nil, the default,
// logs nothing.
func Logger(l *slog.Logger) ListenerOption { return func(s *listenerSettings) { s.log = l } }

// Deserializer sets how received payloads and request contexts are
// decoded, the listener's side of a notifier's Serializer: payloads
// through DeserializeEntity, and the request context through
// DeserializeContext onto the handler's ctx (read it there with
// serializer.RequestContextFrom); Notification.Context keeps the entries
// as they came. A payload it cannot decode is logged and the notification
// dropped; a request context it cannot decode is logged and left out of
// the handler's ctx.
// Nil, the default, is serializer.JSON.
func Deserializer(s serializer.Serializer) ListenerOption {
	return func(o *listenerSettings) {
		if s == nil {
			s = serializer.JSON{}
		}
		o.ser = s
	}
}

// GracePeriod sets how long running handlers may go on, once the ctx
// given to Serve has ended, before their contexts are cancelled. Zero
// means DefaultGracePeriod; negative makes NewListener fail.
func GracePeriod(d time.Duration) ListenerOption {
	return func(s *listenerSettings) {
		if d == 0 {
			d = DefaultGracePeriod
		}
		s.grace = d
	}
}

// OnListen sets a function Serve calls once it listens, before it takes
// the first notification: from then on notifications sent reach this
// listener. It runs on Serve's goroutine and should return quickly.
func OnListen(f func()) ListenerOption { return func(s *listenerSettings) { s.onListen = f } }

// Interceptor wraps a listener's dispatch of one notification to its
// endpoints (ns holds it alone), or of a batch listener's notifications of
// one priority (ns holds them all). It calls next, with ctx or a ctx
// derived from it that the handlers then get, and returns next's error or
// its own, which counts as a handler's failure. Logging, metrics and
// tracing (a span per notification) are interceptors. It must not keep ns.
type Interceptor func(ctx context.Context, ns []*Notification, next func(ctx context.Context) error) error

// Intercept adds interceptors around every dispatch, the first outermost.
func Intercept(is ...Interceptor) ListenerOption {
	return func(s *listenerSettings) { s.interceptors = append(slices.Clone(s.interceptors), is...) }
}

// endpoint is a compiled Endpoint or BatchEndpoint.
type endpoint struct {
	m     *matcher
	one   map[Priority]Handler
	batch map[Priority]BatchHandler
}

// Listener consumes notifications and hands them to the handlers of its
// endpoints by priority, as oslo.messaging's notification listener. Its
// methods are safe for concurrent use; Serve runs at most once at a time,
// and Shutdown and Close may be called from any goroutine except a
// handler of the same listener.
type Listener struct {
	tr           transport.Notifications
	subs         []transport.Subscription
	eps          []endpoint
	batchSize    int
	batchTimeout time.Duration
	opt          listenerSettings

	listenMu sync.Mutex // serializes Listen's transport round trip

	mu     sync.Mutex
	closed bool
	lis    transport.NotificationListener // set by Listen, nil after Serve released it
	run    *serveRun
}

// serveRun is the state of one Serve call that Shutdown and Close reach.
type serveRun struct {
	stopTaking context.CancelFunc      // ends the wait for notifications
	cancel     context.CancelCauseFunc // cancels handler contexts
	done       chan struct{}           // closed when Serve has released everything
	wg         sync.WaitGroup          // workers
}

// NewListener returns a listener for the notifications of targets (each
// needs a Topic; Exchange empty means the transport's control exchange)
// at every priority some endpoint handles. Each notification goes to the
// endpoints in order: those with a handler for its priority whose filter
// matches, until a handler fails or asks for a requeue. It does no I/O:
// Listen or Serve does.
func NewListener(tr transport.Notifications, targets []target.Target, endpoints []Endpoint, opts ...ListenerOption) (*Listener, error) {
	eps := make([]endpoint, 0, len(endpoints))
	for i, e := range endpoints {
		m, err := e.Filter.compile()
		if err != nil {
			return nil, fmt.Errorf("notify: endpoint %d: %w", i, err)
		}
		eps = append(eps, endpoint{m: m, one: e.Handlers})
	}
	return newListener(tr, targets, eps, opts)
}

// NewBatchListener returns a listener like NewListener whose handlers
// take batches: up to size notifications, handed over once size arrived
// or timeout passed since the first, whichever comes first (oslo's
// batch_size and batch_timeout). Each batch is split by priority, in
// arrival order.
func NewBatchListener(tr transport.Notifications, targets []target.Target, endpoints []BatchEndpoint, size int, timeout time.Duration, opts ...ListenerOption) (*Listener, error) {
	if size < 1 {
		return nil, fmt.Errorf("notify: batch size %d is not positive", size)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("notify: batch timeout %v is not positive", timeout)
	}
	eps := make([]endpoint, 0, len(endpoints))
	for i, e := range endpoints {
		m, err := e.Filter.compile()
		if err != nil {
			return nil, fmt.Errorf("notify: endpoint %d: %w", i, err)
		}
		eps = append(eps, endpoint{m: m, batch: e.Handlers})
	}
	l, err := newListener(tr, targets, eps, opts)
	if err != nil {
		return nil, err
	}
	l.batchSize, l.batchTimeout = size, timeout
	return l, nil
}

func newListener(tr transport.Notifications, targets []target.Target, eps []endpoint, opts []ListenerOption) (*Listener, error) {
	o := listenerSettings{workers: DefaultWorkers, maxRequeues: DefaultMaxRequeues, grace: DefaultGracePeriod, ser: serializer.JSON{}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.grace < 0 {
		return nil, fmt.Errorf("notify: negative grace period %v", o.grace)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if tr == nil {
		return nil, errors.New("notify: the listener has no transport")
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("notify: %w: no target to listen on", target.ErrInvalid)
	}
	var prios []Priority
	for i, e := range eps {
		for p, h := range e.one {
			if h == nil {
				return nil, fmt.Errorf("notify: endpoint %d: nil handler for %s", i, p)
			}
			prios = append(prios, p)
		}
		for p, h := range e.batch {
			if h == nil {
				return nil, fmt.Errorf("notify: endpoint %d: nil handler for %s", i, p)
			}
			prios = append(prios, p)
		}
	}
	for _, p := range prios {
		if !slices.Contains(priorities, p) {
			return nil, fmt.Errorf("notify: unknown priority %q (known: %v)", p, priorities)
		}
	}
	if len(prios) == 0 {
		return nil, errors.New("notify: no endpoint handles any priority")
	}
	var subs []transport.Subscription
	for _, t := range targets {
		if t.Topic == "" {
			return nil, fmt.Errorf("notify: %w: a notification target needs a topic", target.ErrInvalid)
		}
		for _, p := range priorities {
			if slices.Contains(prios, p) {
				subs = append(subs, transport.Subscription{Target: target.Target{Exchange: t.Exchange, Topic: t.Topic}, Priority: string(p)})
			}
		}
	}
	return &Listener{tr: tr, subs: subs, eps: eps, opt: o}, nil
}

// Listen declares the listener's queues and starts consuming them, so
// that notifications sent from now on reach it; Serve then handles them.
// Serve calls it when it has not been called. It is idempotent, and
// returns ErrListenerClosed after Shutdown or Close.
func (l *Listener) Listen(ctx context.Context) error {
	l.listenMu.Lock()
	defer l.listenMu.Unlock()
	l.mu.Lock()
	closed, listening := l.closed, l.lis != nil
	l.mu.Unlock()
	if closed {
		return ErrListenerClosed
	}
	if listening {
		return nil
	}
	lis, err := l.tr.ListenNotifications(ctx, l.subs, l.opt.pool)
	if err != nil {
		return fmt.Errorf("notify: listening: %w", err)
	}
	l.mu.Lock()
	closed = l.closed
	if !closed {
		l.lis = lis
	}
	l.mu.Unlock()
	if closed {
		l.closeListener(lis)
		return ErrListenerClosed
	}
	return nil
}

// Serve handles notifications until ctx ends, Shutdown or Close is
// called, or the transport fails; it listens first when Listen has not
// been called. It acks each notification after its handlers return, and
// returns once every notification it took is settled.
//
// The end of ctx is the graceful path, as on the RPC server: the listener
// stops taking notifications, lets running handlers finish for up to the
// grace period (GracePeriod), then cancels the contexts of those still
// running. A notification whose handler fails once cancelled so (or by
// Close) is neither acked nor requeued by the listener: it goes back to
// the broker when the transport listener is released, whatever
// MaxRequeues says. Handler contexts carry ctx's values, but not its
// cancellation.
//
// Serve returns ErrListenerClosed on every clean stop: after the end of
// ctx, Shutdown or Close, after which the listener is closed for good. It
// returns the transport's error when listening or receiving failed; after
// such an error it may be called again, and listens anew.
func (l *Listener) Serve(ctx context.Context) error {
	if err := l.Listen(ctx); err != nil {
		if ctx.Err() != nil && !errors.Is(err, ErrListenerClosed) {
			// ctx ended while listening: a clean stop like any other.
			l.markClosing()
			return ErrListenerClosed
		}
		return err
	}
	handlerCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	takeCtx, stopTaking := context.WithCancel(ctx)
	defer stopTaking()
	r := &serveRun{stopTaking: stopTaking, cancel: cancel, done: make(chan struct{})}
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return ErrListenerClosed
	case l.run != nil:
		l.mu.Unlock()
		return errServing
	}
	l.run = r
	lis := l.lis
	l.mu.Unlock()
	if l.opt.onListen != nil {
		l.opt.onListen()
	}

	var err error
	if l.batchSize > 0 {
		err = l.batchLoop(takeCtx, handlerCtx, r, lis)
	} else {
		err = l.loop(takeCtx, handlerCtx, r, lis)
	}
	if ctx.Err() != nil && l.markClosing() {
		// The graceful path: what is not taken stays in the broker, running
		// handlers get the grace period.
		l.stopListener(lis)
		grace := time.AfterFunc(l.opt.grace, func() { cancel(errShutdown) })
		r.wg.Wait()
		grace.Stop()
	}
	r.wg.Wait()
	l.mu.Lock()
	l.run = nil
	if l.lis == lis {
		l.lis = nil
	}
	closed := l.closed
	l.mu.Unlock()
	l.closeListener(lis)
	close(r.done)
	if closed {
		return ErrListenerClosed
	}
	return err
}

// loop takes notifications while a worker is free and starts one for
// each, until ctx ends or the listener fails. Handlers run with contexts
// derived from handlerCtx.
func (l *Listener) loop(ctx, handlerCtx context.Context, r *serveRun, lis transport.NotificationListener) error {
	slots := make(chan struct{}, l.opt.workers)
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		in, err := lis.Next(ctx)
		if err != nil {
			return fmt.Errorf("notify: receiving: %w", err)
		}
		r.wg.Go(func() {
			defer func() { <-slots }()
			l.handle(handlerCtx, in)
		})
	}
}

// batchLoop collects batches while a worker is free and starts one for
// each, as loop does.
func (l *Listener) batchLoop(ctx, handlerCtx context.Context, r *serveRun, lis transport.NotificationListener) error {
	slots := make(chan struct{}, l.opt.workers)
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		batch, err := l.collect(ctx, lis)
		if len(batch) > 0 {
			r.wg.Go(func() {
				defer func() { <-slots }()
				l.handleBatch(handlerCtx, batch)
			})
		} else {
			<-slots
		}
		if err != nil {
			return fmt.Errorf("notify: receiving: %w", err)
		}
	}
}

// collect waits for a first notification, then takes more until the batch
// is full or the batch timeout since the first has passed. It returns what
// it took even with an error.
func (l *Listener) collect(ctx context.Context, lis transport.NotificationListener) ([]transport.IncomingNotification, error) {
	in, err := lis.Next(ctx)
	if err != nil {
		return nil, err
	}
	batch := []transport.IncomingNotification{in}
	bctx, cancel := context.WithTimeout(ctx, l.batchTimeout)
	defer cancel()
	for len(batch) < l.batchSize {
		in, err := lis.Next(bctx)
		if err != nil {
			if bctx.Err() != nil && ctx.Err() == nil {
				return batch, nil // the batch timeout
			}
			return batch, err
		}
		batch = append(batch, in)
	}
	return batch, nil
}

// handle dispatches one notification and settles it.
func (l *Listener) handle(ctx context.Context, in transport.IncomingNotification) {
	n, ctx, err := l.decode(ctx, in)
	if err != nil {
		l.opt.log.LogAttrs(ctx, slog.LevelWarn, "notify: dropping a notification", slog.String("message_id", in.Notification().MessageID), slog.Any("error", err))
		l.ack(ctx, in)
		return
	}
	failed := l.intercept(ctx, []*Notification{n}, func(ctx context.Context) error {
		for _, e := range l.eps {
			h := e.one[n.Priority]
			if h == nil || !e.m.match(n) {
				continue
			}
			if err := l.call(ctx, "the handler of "+n.EventType, func() error { return h.HandleNotification(ctx, n) }); err != nil {
				return err
			}
		}
		return nil
	})
	l.settle(ctx, in, n, failed)
}

// handleBatch splits a batch by priority, dispatches each part and
// settles its notifications.
func (l *Listener) handleBatch(ctx context.Context, batch []transport.IncomingNotification) {
	byPrio := map[Priority][]int{}
	ns := make([]*Notification, len(batch))
	for i, in := range batch {
		// Batch handlers get each request context as Notification.Context.
		n, _, err := l.decode(ctx, in)
		if err != nil {
			l.opt.log.LogAttrs(ctx, slog.LevelWarn, "notify: dropping a notification", slog.String("message_id", in.Notification().MessageID), slog.Any("error", err))
			l.ack(ctx, in)
			continue
		}
		ns[i] = n
		byPrio[n.Priority] = append(byPrio[n.Priority], i)
	}
	for _, p := range priorities {
		idx := byPrio[p]
		if len(idx) == 0 {
			continue
		}
		group := make([]*Notification, len(idx))
		for j, i := range idx {
			group[j] = ns[i]
		}
		failed := l.intercept(ctx, group, func(ctx context.Context) error {
			for _, e := range l.eps {
				h := e.batch[p]
				if h == nil {
					continue
				}
				var part []*Notification
				for _, n := range group {
					if e.m.match(n) {
						part = append(part, n)
					}
				}
				if len(part) == 0 {
					continue
				}
				what := fmt.Sprintf("the handler of a batch of %d %s notifications", len(part), p)
				if err := l.call(ctx, what, func() error { return h.HandleNotifications(ctx, part) }); err != nil {
					return err
				}
			}
			return nil
		})
		for _, i := range idx {
			l.settle(ctx, batch[i], ns[i], failed)
		}
	}
}

// intercept runs dispatch inside the listener's interceptors, the first
// outermost, turning a panic of one of them into an error.
func (l *Listener) intercept(ctx context.Context, ns []*Notification, dispatch func(ctx context.Context) error) error {
	next := dispatch
	for i := len(l.opt.interceptors) - 1; i >= 0; i-- {
		ic, inner := l.opt.interceptors[i], next
		next = func(ctx context.Context) error {
			return l.call(ctx, "an interceptor", func() error { return ic(ctx, ns, inner) })
		}
	}
	return next(ctx)
}

// decode converts what the transport decoded and deserializes its payload
// and request context, which the returned ctx carries; the one place where
// the listener decodes what it receives.
func (l *Listener) decode(ctx context.Context, in transport.IncomingNotification) (*Notification, context.Context, error) {
	n, err := fromMessage(in.Notification(), in.Deliveries())
	if err != nil {
		return nil, ctx, err
	}
	if n.Payload != nil {
		if n.Payload, err = l.opt.ser.DeserializeEntity(ctx, n.Payload); err != nil {
			return nil, ctx, fmt.Errorf("notify: decoding the payload of %s: %w", n.EventType, err)
		}
	}
	hctx, err := l.opt.ser.DeserializeContext(ctx, n.Context)
	if err != nil {
		// Notification.Context still holds the entries: handle it anyway.
		l.opt.log.LogAttrs(ctx, slog.LevelWarn, "notify: the request context does not decode; handling the notification without it",
			slog.String("event_type", n.EventType), slog.String("message_id", n.MessageID), slog.Any("error", err))
		return n, ctx, nil
	}
	return n, hctx, nil
}

// call runs a handler, turning a panic into an error.
func (l *Listener) call(ctx context.Context, what string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			l.opt.log.LogAttrs(ctx, slog.LevelError, "notify: recovered a panic", slog.String("in", what), slog.Any("panic", p))
			err = fmt.Errorf("notify: panic in %s: %v", what, p)
		}
	}()
	return f()
}

// settle acks in, or requeues it after a failure while its requeues last.
func (l *Listener) settle(ctx context.Context, in transport.IncomingNotification, n *Notification, failed error) {
	if failed == nil {
		l.ack(ctx, in)
		return
	}
	if errors.Is(context.Cause(ctx), errShutdown) {
		// Its handler was cancelled by Close or a Shutdown past its
		// grace: the notification goes back to the broker when the
		// transport listener closes, whatever MaxRequeues says.
		return
	}
	attrs := []slog.Attr{
		slog.String("event_type", n.EventType), slog.String("message_id", n.MessageID),
		slog.Int("deliveries", n.Deliveries), slog.Any("error", failed),
	}
	var drop *dropError
	switch {
	case errors.As(failed, &drop):
		l.opt.log.LogAttrs(ctx, slog.LevelWarn, "notify: dropping a notification its handler cannot take", attrs...)
	case n.Deliveries > l.opt.maxRequeues:
		l.opt.log.LogAttrs(ctx, slog.LevelWarn, "notify: dropping a notification requeued too often", attrs...)
	default:
		if !errors.Is(failed, ErrRequeue) {
			l.opt.log.LogAttrs(ctx, slog.LevelWarn, "notify: handler failed; requeueing", attrs...)
		}
		if err := in.Requeue(); err != nil {
			l.opt.log.LogAttrs(ctx, slog.LevelWarn, "notify: could not requeue a notification; the broker keeps it", slog.String("message_id", n.MessageID), slog.Any("error", err))
		}
		return
	}
	l.ack(ctx, in)
}

func (l *Listener) ack(ctx context.Context, in transport.IncomingNotification) {
	if err := in.Ack(); err != nil {
		l.opt.log.LogAttrs(ctx, slog.LevelWarn, "notify: could not ack a notification; the broker will deliver it again", slog.String("message_id", in.Notification().MessageID), slog.Any("error", err))
	}
}

// Shutdown stops the listener gracefully: it stops taking notifications,
// lets the handlers of those already taken finish and settles them, then
// releases the transport listener and makes Serve return
// ErrListenerClosed. If ctx ends first, Shutdown closes the listener as
// Close does and returns ctx.Err(). It is idempotent.
func (l *Listener) Shutdown(ctx context.Context) error {
	r, lis := l.markClosed()
	if r == nil {
		if lis != nil {
			l.closeListener(lis)
		}
		return nil
	}
	r.stopTaking()
	if lis != nil {
		l.stopListener(lis)
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		l.Close()
		return ctx.Err()
	}
}

// Close stops the listener now: it stops taking notifications, cancels
// the contexts of running handlers, releases the transport listener (the
// broker requeues what was not acked) and waits for the handlers to
// return. Serve returns ErrListenerClosed. Close is idempotent; its error
// is always nil and exists to implement io.Closer.
func (l *Listener) Close() error {
	r, lis := l.markClosed()
	if r == nil {
		if lis != nil {
			l.closeListener(lis)
		}
		return nil
	}
	r.stopTaking()
	r.cancel(errShutdown)
	if lis != nil {
		l.closeListener(lis)
	}
	<-r.done
	return nil
}

// markClosed marks the listener closed and returns the running Serve (nil
// when none) and the transport listener (nil when none).
func (l *Listener) markClosed() (*serveRun, transport.NotificationListener) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	lis := l.lis
	if l.run == nil {
		l.lis = nil // nobody else will close it
	}
	return l.run, lis
}

// markClosing marks the listener closed for Serve's graceful path and
// reports whether it was open until then.
func (l *Listener) markClosing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	was := l.closed
	l.closed = true
	return !was
}

// stopListener stops lis consuming, logging a failure.
func (l *Listener) stopListener(lis transport.NotificationListener) {
	if err := lis.Stop(); err != nil {
		l.opt.log.LogAttrs(context.Background(), slog.LevelWarn, "notify: stopping the listener", slog.Any("error", err))
	}
}

func (l *Listener) closeListener(lis transport.NotificationListener) {
	if err := lis.Close(); err != nil {
		l.opt.log.LogAttrs(context.Background(), slog.LevelWarn, "notify: closing the listener", slog.Any("error", err))
	}
}
