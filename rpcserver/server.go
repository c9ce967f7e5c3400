package rpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/serializer"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// ErrServerClosed is what Serve returns on every clean stop: after
// Shutdown or Close, and after the graceful shutdown that follows the end
// of its ctx. Listen returns it once the server is closed.
var ErrServerClosed = errors.New("rpcserver: server closed")

var (
	// errServing is what a second concurrent Serve returns.
	errServing = errors.New("rpcserver: Serve is already running")
	// errNoDispatcher is what Listen and Serve return for a server built
	// without one.
	errNoDispatcher = errors.New("rpcserver: the server has no dispatcher")
	// errShutdown is the cause with which shutdown cancels the contexts
	// of running handlers.
	errShutdown = errors.New("rpcserver: server shutting down")
)

// DefaultWorkers is how many requests a server handles at once unless the
// Workers option says otherwise; oslo.messaging's executor_thread_pool_size
// has the same default.
const DefaultWorkers = 64

// DefaultGracePeriod is how long running handlers may go on after the ctx
// given to Serve ends, unless the GracePeriod option says otherwise. It is
// below the 30 s a process manager such as Kubernetes commonly allows
// between SIGTERM and SIGKILL, so that the handlers still running then can
// tell their callers the server is shutting down.
const DefaultGracePeriod = 20 * time.Second

type options struct {
	workers      int
	grace        time.Duration
	log          *slog.Logger
	interceptors []dispatcher.Interceptor
	custom       bool // Interceptors was given: no defaults
	ser          serializer.Serializer
	introspect   bool  // Introspection was given
	err          error // the first bad option, reported by Listen and Serve
}

func (o *options) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

// Option changes a setting of a Server.
type Option func(*options)

// Workers sets how many requests the server handles at once. The server
// takes a request from the transport only when a worker is free, so
// requests beyond that wait in the broker, where another server of the
// topic can take them. Zero means DefaultWorkers; a negative n makes
// Listen and Serve fail.
func Workers(n int) Option {
	return func(o *options) {
		switch {
		case n < 0:
			o.fail(fmt.Errorf("rpcserver: negative workers %d", n))
		case n == 0:
			o.workers = DefaultWorkers
		default:
			o.workers = n
		}
	}
}

// GracePeriod sets how long running handlers may go on, once the ctx given
// to Serve has ended, before their contexts are cancelled. Zero means
// DefaultGracePeriod; a negative d makes Listen and Serve fail.
func GracePeriod(d time.Duration) Option {
	return func(o *options) {
		switch {
		case d < 0:
			o.fail(fmt.Errorf("rpcserver: negative grace period %v", d))
		case d == 0:
			o.grace = DefaultGracePeriod
		default:
			o.grace = d
		}
	}
}

// Logger sets where the server logs: what the default interceptors log
// (see LogErrors), and replies or heartbeats it could not send (warn). Nil,
// the default, logs nothing.
func Logger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// Interceptors sets the interceptors the server wraps around every request
// it dispatches, the first outermost, in place of its default ones:
// LogErrors with the server's Logger, then Recover. Unlike the
// dispatcher's, they also see requests that reach no method. Leaving
// Recover out lets a handler's panic end the program. Repeated options add
// to the list; a nil interceptor makes Listen and Serve fail.
func Interceptors(is ...dispatcher.Interceptor) Option {
	return func(o *options) {
		for i, in := range is {
			if in == nil {
				o.fail(fmt.Errorf("rpcserver: interceptor %d is nil", i))
			}
		}
		o.interceptors = append(o.interceptors, is...)
		o.custom = true
	}
}

// Server serves RPC requests for one target. Its methods are safe for
// concurrent use; Serve runs at most once at a time, and Shutdown and Close
// may be called from any goroutine except a handler of the same server.
type Server struct {
	tr    transport.Transport
	tgt   target.Target
	d     *dispatcher.Dispatcher
	opt   options
	chain dispatcher.Handler // the interceptors around the dispatcher
	start time.Time          // when New made the server

	busy     atomic.Int64  // requests being handled
	requests atomic.Uint64 // requests handed to a worker
	failed   atomic.Uint64 // requests whose handling returned an error
	expired  atomic.Uint64 // requests dropped because their deadline had passed

	listenMu sync.Mutex // held by Listen while it listens

	mu     sync.Mutex
	closed bool               // Shutdown or Close was called, or Serve's ctx ended
	lis    transport.Listener // the listener, nil while not listening
	run    *serveRun          // the running Serve, nil when none
}

// serveRun is the state of one Serve call that Shutdown and Close reach.
type serveRun struct {
	stopTaking context.CancelFunc      // ends the loop that takes requests
	cancel     context.CancelCauseFunc // cancels handler contexts: stop now
	done       chan struct{}           // closed when Serve has released everything
	wg         sync.WaitGroup          // goroutines started by spawn
}

// spawn runs f in a goroutine that Serve waits for before it returns.
func (r *serveRun) spawn(f func()) {
	r.wg.Go(f)
}

// New returns a server for tgt that dispatches requests with d. It does no
// I/O: Listen and Serve do, and report a bad option.
func New(tr transport.Transport, tgt target.Target, d *dispatcher.Dispatcher, opts ...Option) *Server {
	o := options{workers: DefaultWorkers, grace: DefaultGracePeriod}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if !o.custom {
		o.interceptors = []dispatcher.Interceptor{LogErrors(o.log), Recover()}
	}
	s := &Server{tr: tr, tgt: tgt, d: d, opt: o, start: time.Now()}
	s.chain = s.dispatch
	for i := len(o.interceptors) - 1; i >= 0; i-- {
		in, next := o.interceptors[i], s.chain
		s.chain = func(ctx context.Context, req *dispatcher.Request) (any, error) {
			return in(ctx, req, next)
		}
	}
	return s
}

// dispatch runs req through the dispatcher: the Handler at the end of the
// server's interceptors.
func (s *Server) dispatch(ctx context.Context, req *dispatcher.Request) (any, error) {
	if s.isInfo(req) {
		return s.info(), nil
	}
	return s.d.Invoke(ctx, req)
}

// check reports what makes the server unable to listen.
func (s *Server) check() error {
	if s.opt.err != nil {
		return s.opt.err
	}
	if err := s.tgt.ValidateServer(); err != nil {
		return fmt.Errorf("rpcserver: %w", err)
	}
	if s.d == nil {
		return errNoDispatcher
	}
	return nil
}

// Listen starts consuming the server's queues and returns once requests
// sent to its target reach it; they wait in the transport until Serve
// takes them. ctx bounds the listening only. Listen does nothing when the
// server listens already, and returns ErrServerClosed once it is closed.
// Serve listens by itself: call Listen first to know when the server is
// reachable, as net.Listen does before http.Serve.
func (s *Server) Listen(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	s.mu.Lock()
	closed, listening := s.closed, s.lis != nil
	s.mu.Unlock()
	switch {
	case closed:
		return ErrServerClosed
	case listening:
		return nil
	}
	lis, err := s.tr.Listen(ctx, s.tgt)
	if err != nil {
		if s.isClosed() {
			return ErrServerClosed
		}
		return fmt.Errorf("rpcserver: listening on %s: %w", s.tgt, err)
	}
	s.mu.Lock()
	closed = s.closed
	if !closed {
		s.lis = lis
	}
	s.mu.Unlock()
	if closed {
		s.closeListener(lis)
		return ErrServerClosed
	}
	return nil
}

// Serve handles requests until ctx ends, Shutdown or Close is called, or
// the listener fails; it listens first when Listen has not been called. It
// returns after every request it took has finished.
//
// The end of ctx is the graceful path, the one to take from a signal
// (signal.NotifyContext): the server stops taking requests, lets running
// handlers finish and reply for up to the grace period (GracePeriod), then
// cancels the contexts of those still running; each such call gets a
// failure reply of class ServerShuttingDown (rpcerr.ErrServerShuttingDown)
// instead of waiting out its deadline. Handler contexts carry ctx's values,
// but not its cancellation.
//
// Serve returns ErrServerClosed on every clean stop: after the end of ctx,
// Shutdown or Close, after which the server is closed for good. It returns
// an error matching target.ErrInvalid for a target without topic or server
// name, and the transport's error (such as transport.ErrConnectionLost)
// when listening or receiving failed; after such an error it may be called
// again, and listens anew.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(ctx); err != nil {
		if ctx.Err() != nil && !errors.Is(err, ErrServerClosed) && s.check() == nil {
			// ctx ended while listening: a clean stop like any other.
			s.markClosing()
			return ErrServerClosed
		}
		return err
	}
	handlerCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	takeCtx, stopTaking := context.WithCancel(ctx)
	defer stopTaking()
	r := &serveRun{stopTaking: stopTaking, cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrServerClosed
	case s.run != nil:
		s.mu.Unlock()
		return errServing
	}
	s.run = r
	lis := s.lis
	s.mu.Unlock()

	err := s.loop(takeCtx, handlerCtx, r, lis)
	if ctx.Err() != nil && s.markClosing() {
		// The graceful path: requests stay in the broker for other servers,
		// running handlers get the grace period.
		s.stopListener(lis)
		grace := time.AfterFunc(s.opt.grace, func() { cancel(errShutdown) })
		r.wg.Wait()
		grace.Stop()
	}
	r.wg.Wait()
	s.mu.Lock()
	s.run = nil
	if s.lis == lis {
		s.lis = nil
	}
	closed := s.closed
	s.mu.Unlock()
	s.closeListener(lis)
	close(r.done)
	if closed {
		return ErrServerClosed
	}
	return err
}

// loop takes requests while a worker is free and hands each to a worker,
// until ctx ends or the listener fails. It returns the error that stopped
// it. Handlers run with contexts derived from handlerCtx.
//
// Workers are started as requests need them, up to the Workers option,
// and live until loop returns: a long-lived goroutine keeps the stack its
// handlers grew, where a goroutine per request would grow it anew each
// time (oslo's executor is a pool of threads too).
func (s *Server) loop(ctx, handlerCtx context.Context, r *serveRun, lis transport.Listener) error {
	slots := make(chan struct{}, s.opt.workers)
	work := make(chan transport.Incoming)
	defer close(work)
	started := 0
	for {
		// Take a worker first, so that a request the server cannot start
		// stays in the broker for another server.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		in, err := lis.Next(ctx)
		if err != nil {
			return fmt.Errorf("rpcserver: receiving on %s: %w", s.tgt, err)
		}
		req, deadline := in.Request(), in.Deadline()
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			s.opt.log.LogAttrs(ctx, slog.LevelDebug, "rpcserver: dropping a request whose deadline has passed",
				slog.String("method", req.Method), slog.String("msg_id", req.MsgID),
				slog.Time("deadline", deadline))
			s.expired.Add(1)
			<-slots
			continue
		}
		s.requests.Add(1)
		s.busy.Add(1)
		select {
		case work <- in:
		default:
			if started == s.opt.workers {
				// Every worker is started; the one that freed the slot
				// is on its way back.
				work <- in
				break
			}
			started++
			r.spawn(func() { s.work(handlerCtx, r, in, slots, work) })
		}
	}
}

// work handles in, then each request loop hands it, until loop returns.
func (s *Server) work(ctx context.Context, r *serveRun, in transport.Incoming, slots <-chan struct{}, work <-chan transport.Incoming) {
	for ok := true; ok; in, ok = <-work {
		s.handle(ctx, r, in)
		s.busy.Add(-1)
		<-slots
	}
}

// Stats is a snapshot of a server's work, for metrics and introspection.
type Stats struct {
	// Workers is how many requests the server handles at once (Workers).
	Workers int
	// Busy is how many requests are being handled now. A server takes a
	// request from the transport only when a worker is free, so requests
	// beyond Workers wait in the broker, not in the server: Busy equal to
	// Workers means the server is saturated.
	Busy int
	// Requests counts the requests handed to a worker since New.
	Requests uint64
	// Failed counts the requests whose handling returned an error (the
	// caller got a failure, or a cast failed), since New.
	Failed uint64
	// Expired counts the requests dropped without running because their
	// deadline had passed when a worker was free, since New.
	Expired uint64
	// Started is when New made the server.
	Started time.Time
}

// Stats returns a snapshot of the server's work. It may be called at any
// time from any goroutine; the counts are read one by one, not together.
func (s *Server) Stats() Stats {
	return Stats{
		Workers:  s.opt.workers,
		Busy:     int(s.busy.Load()),
		Requests: s.requests.Load(),
		Failed:   s.failed.Load(),
		Expired:  s.expired.Load(),
		Started:  s.start,
	}
}

// Target returns the target the server serves.
func (s *Server) Target() target.Target { return s.tgt }

// Shutdown stops the server gracefully: it stops taking requests, lets the
// requests already taken finish and send their replies, then releases the
// listener and makes Serve return ErrServerClosed. If ctx ends first,
// Shutdown closes the server as Close does and returns ctx.Err(). It is
// idempotent, and returns at once when Serve is not running.
func (s *Server) Shutdown(ctx context.Context) error {
	r, lis := s.markClosed()
	if r == nil {
		if lis != nil {
			s.closeListener(lis)
		}
		return nil
	}
	r.stopTaking()
	s.stopListener(lis)
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Close stops the server now: it stops taking requests, releases the
// listener, cancels the contexts of running handlers and waits for them to
// return. Each call whose handler was cancelled gets a failure reply of
// class ServerShuttingDown. Serve returns ErrServerClosed. Close is
// idempotent; its error is always nil and exists to implement io.Closer.
func (s *Server) Close() error {
	r, lis := s.markClosed()
	if r == nil {
		if lis != nil {
			s.closeListener(lis)
		}
		return nil
	}
	r.stopTaking()
	r.cancel(errShutdown)
	if lis != nil {
		s.closeListener(lis)
	}
	<-r.done
	return nil
}

// markClosed marks the server closed and returns the running Serve, nil
// when there is none, and the listener, nil when not listening. Without a
// running Serve, the listener is the caller's to close.
func (s *Server) markClosed() (*serveRun, transport.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	lis := s.lis
	if s.run == nil {
		s.lis = nil
	}
	return s.run, lis
}

// markClosing marks the server closed for Serve's graceful path and
// reports whether it was open until then.
func (s *Server) markClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.closed
	s.closed = true
	return !was
}

// isClosed reports whether the server is closed.
func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// stopListener stops lis consuming, logging a failure.
func (s *Server) stopListener(lis transport.Listener) {
	if err := lis.Stop(); err != nil {
		s.opt.log.LogAttrs(context.Background(), slog.LevelWarn, "rpcserver: stopping the listener",
			slog.String("target", s.tgt.String()), slog.Any("error", err))
	}
}

// closeListener closes lis, logging a failure.
func (s *Server) closeListener(lis transport.Listener) {
	if err := lis.Close(); err != nil {
		s.opt.log.LogAttrs(context.Background(), slog.LevelWarn, "rpcserver: closing the listener",
			slog.String("target", s.tgt.String()), slog.Any("error", err))
	}
}
