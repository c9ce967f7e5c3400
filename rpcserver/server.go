package rpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// ErrServerClosed is what Serve returns after Shutdown or Close.
var ErrServerClosed = errors.New("rpcserver: server closed")

var (
	// errServing is what a second concurrent Serve returns.
	errServing = errors.New("rpcserver: Serve is already running")
	// errNoDispatcher is what Serve returns for a server built without one.
	errNoDispatcher = errors.New("rpcserver: the server has no dispatcher")
)

// DefaultWorkers is how many requests a server handles at once unless the
// Workers option says otherwise; oslo.messaging's executor_thread_pool_size
// has the same default.
const DefaultWorkers = 64

type options struct {
	workers  int
	log      *slog.Logger
	onListen func()
}

// Option changes a setting of a Server.
type Option func(*options)

// Workers sets how many requests the server handles at once. The server
// takes a request from the transport only when a worker is free, so
// requests beyond that wait in the broker, where another server of the
// topic can take them. n below 1 means DefaultWorkers.
func Workers(n int) Option {
	return func(o *options) {
		if n < 1 {
			n = DefaultWorkers
		}
		o.workers = n
	}
}

// Logger sets where the server logs: requests dropped for their deadline
// (debug), errors handlers returned (debug), panics (error) and replies or
// heartbeats it could not send (warn). Nil, the default, logs nothing.
func Logger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// OnListen sets a function Serve calls each time it has started listening,
// before it takes the first request: from then on requests sent to the
// target reach this server. It runs on Serve's goroutine and should return
// quickly.
func OnListen(f func()) Option {
	return func(o *options) { o.onListen = f }
}

// Server serves RPC requests for one target. Its methods are safe for
// concurrent use; Serve runs at most once at a time, and Shutdown and Close
// may be called from any goroutine except a handler of the same server.
type Server struct {
	tr  transport.Transport
	tgt target.Target
	d   *dispatcher.Dispatcher
	opt options

	mu     sync.Mutex
	closed bool      // Shutdown or Close was called
	run    *serveRun // the running Serve, nil when none
}

// serveRun is the state of one Serve call that Shutdown and Close reach.
type serveRun struct {
	cancel context.CancelFunc // cancels handler contexts: stop now
	done   chan struct{}      // closed when Serve has released everything
	lis    transport.Listener // nil until Listen returned; guarded by Server.mu
	wg     sync.WaitGroup     // goroutines started by spawn
}

// spawn runs f in a goroutine that Serve waits for before it returns.
func (r *serveRun) spawn(f func()) {
	r.wg.Go(f)
}

// New returns a server for tgt that dispatches requests with d. It does no
// I/O: Serve listens.
func New(tr transport.Transport, tgt target.Target, d *dispatcher.Dispatcher, opts ...Option) *Server {
	o := options{workers: DefaultWorkers}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return &Server{tr: tr, tgt: tgt, d: d, opt: o}
}

// Serve listens on the server's target and handles requests until ctx
// ends, Shutdown or Close is called, or the listener fails. It returns
// after every request it took has finished.
//
// Serve returns ErrServerClosed after Shutdown or Close, an error matching
// ctx.Err() when ctx ended, an error matching target.ErrInvalid for a
// target without topic or server name, and the transport's error (such as
// transport.ErrConnectionLost) when listening or receiving failed; after
// anything but ErrServerClosed it may be called again. When ctx ends,
// handler contexts are cancelled as by Close.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.tgt.ValidateServer(); err != nil {
		return fmt.Errorf("rpcserver: %w", err)
	}
	if s.d == nil {
		return errNoDispatcher
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &serveRun{cancel: cancel, done: make(chan struct{})}
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
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.run = nil
		s.mu.Unlock()
		close(r.done)
	}()

	lis, err := s.tr.Listen(ctx, s.tgt)
	if err != nil {
		if s.isClosed() {
			return ErrServerClosed
		}
		return fmt.Errorf("rpcserver: listening on %s: %w", s.tgt, err)
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		r.lis = lis
	}
	s.mu.Unlock()
	if closed {
		s.closeListener(lis)
		return ErrServerClosed
	}
	if s.opt.onListen != nil {
		s.opt.onListen()
	}

	err = s.loop(ctx, r, lis)
	r.wg.Wait()
	s.closeListener(lis)
	switch {
	case s.isClosed():
		return ErrServerClosed
	case ctx.Err() != nil:
		return fmt.Errorf("rpcserver: %w", ctx.Err())
	}
	return err
}

// loop takes requests while a worker is free and starts one for each. It
// returns the error that stopped it.
func (s *Server) loop(ctx context.Context, r *serveRun, lis transport.Listener) error {
	slots := make(chan struct{}, s.opt.workers)
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
			<-slots
			continue
		}
		r.spawn(func() {
			defer func() { <-slots }()
			s.handle(ctx, r, in)
		})
	}
}

// Shutdown stops the server gracefully: it stops taking requests, lets the
// requests already taken finish and send their replies, then releases the
// listener and makes Serve return ErrServerClosed. If ctx ends first,
// Shutdown closes the server as Close does and returns ctx.Err(). It is
// idempotent, and returns at once when Serve is not running.
func (s *Server) Shutdown(ctx context.Context) error {
	r, lis := s.markClosed()
	if r == nil {
		return nil
	}
	if lis != nil {
		if err := lis.Stop(); err != nil {
			s.opt.log.LogAttrs(ctx, slog.LevelWarn, "rpcserver: stopping the listener",
				slog.String("target", s.tgt.String()), slog.Any("error", err))
		}
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Close stops the server now: it stops taking requests, cancels the
// contexts of running handlers, releases the listener and waits for the
// handlers to return. Replies that cannot be sent any more are dropped, and
// their callers time out. Serve returns ErrServerClosed. Close is idempotent;
// its error is always nil and exists to implement io.Closer.
func (s *Server) Close() error {
	r, lis := s.markClosed()
	if r == nil {
		return nil
	}
	r.cancel()
	if lis != nil {
		s.closeListener(lis)
	}
	<-r.done
	return nil
}

// markClosed marks the server closed and returns the running Serve, nil
// when there is none, and its listener, nil until Serve listens.
func (s *Server) markClosed() (*serveRun, transport.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.run == nil {
		return nil, nil
	}
	return s.run, s.run.lis
}

// isClosed reports whether Shutdown or Close was called.
func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// closeListener closes lis, logging a failure.
func (s *Server) closeListener(lis transport.Listener) {
	if err := lis.Close(); err != nil {
		s.opt.log.LogAttrs(context.Background(), slog.LevelWarn, "rpcserver: closing the listener",
			slog.String("target", s.tgt.String()), slog.Any("error", err))
	}
}
