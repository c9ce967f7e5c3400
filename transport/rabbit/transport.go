package rabbit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/driver"
	"github.com/warrenrpc/warren/internal/replywait"
	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// closeTimeout bounds Close's round trips with the broker and the AMQP
// close handshake of a connection.
const closeTimeout = 5 * time.Second

var errClosed = fmt.Errorf("rabbit: %w", transport.ErrClosed)

var _ transport.Transport = (*Transport)(nil)

// Transport is the RabbitMQ driver: one connection for publishing and one
// for consuming, so that broker flow control on publishers never stalls
// consumers. It is safe for concurrent use by multiple goroutines.
//
// A Transport reconnects by itself when its connection drops (see the
// package doc); State, Ready, Err and the OnStateChange option show where
// it stands.
type Transport struct {
	s     settings
	log   *slog.Logger
	url   *transport.URL
	hosts *hostOrder // used by Dial, then by the supervisor only

	sess atomic.Pointer[session] // the current session; nil while connecting

	waiters   *replywait.Waiters
	live      liveness     // consumers of the queues calls go to
	exchanges exchangeBook // how the broker has the exchanges declared
	rejects   rejectLog    // senders of rejected messages, logged once each
	notes     *notifyState
	replier   *driver.Replier

	replyMu  sync.Mutex    // serializes the reply queue's lazy set-up
	replyQ   string        // reply queue name; "" until the first call
	replySub *subscription // consumer of replyQ
	// replyLost is set when the broker deleted replyQ under its consumer,
	// until a call declared it again (see replyQueue).
	replyLost atomic.Bool

	unusable atomic.Pointer[error] // usableLocked's error once not nil

	mu          sync.Mutex
	closed      bool
	failErr     error         // why the transport gave up reconnecting
	up          chan struct{} // closed once a session is installed, or the transport ends
	state       State
	events      []StateChange // for OnStateChange, in order
	eventsReady chan struct{} // capacity 1: events has news
	listeners   map[*listener]struct{}
	done        chan struct{}   // closed by Close
	closing     context.Context // ends with Close: bounds reconnection
	cancel      context.CancelFunc
	wg          sync.WaitGroup
}

// spawn runs f on a goroutine that Close waits for. It reports false,
// without running f, once Close has begun.
func (t *Transport) spawn(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Go(f)
	return true
}

// awaitBroker runs f on a goroutine of the transport and waits for its
// result until ctx ends. amqp091's broker round trips and socket writes
// take no ctx: when ctx ends first, awaitBroker returns ctx's error (what
// names the operation) and f goes on until the broker answers or the
// connection closes (on Close, or once the heartbeat finds it dead); then
// undo, when not nil, releases what a successful f obtained.
func awaitBroker[T any](ctx context.Context, t *Transport, what string, f func() (T, error), undo func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	var (
		mu   sync.Mutex
		gone bool // the caller stopped waiting; guarded by mu
	)
	res := make(chan result, 1)
	if !t.spawn(func() {
		v, err := f()
		mu.Lock()
		defer mu.Unlock()
		if gone {
			if err == nil && undo != nil {
				undo(v)
			}
			return
		}
		res <- result{v, err}
	}) {
		var zero T
		return zero, errClosed
	}
	select {
	case r := <-res:
		return r.v, r.err
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	select {
	case r := <-res:
		return r.v, r.err
	default:
	}
	gone = true
	var zero T
	return zero, fmt.Errorf("rabbit: %s: %w", what, ctx.Err())
}

// bounded runs f, broker round trips of a Stop or a Close, which take
// no ctx, and waits for it at most the close timeout. When the broker does
// not answer by then, f goes on until it does or the connection closes.
func (t *Transport) bounded(f func() error) error {
	done := make(chan error, 1)
	if !t.spawn(func() { done <- f() }) {
		// Close has begun: it bounds f by closing the connections.
		return f()
	}
	timer := time.NewTimer(t.s.closeTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("the broker did not answer within %v", t.s.closeTimeout)
	}
}

// usable returns why the transport cannot be used, or nil. It takes no
// lock: every call and publish asks.
func (t *Transport) usable() error {
	if p := t.unusable.Load(); p != nil {
		return *p
	}
	return nil
}

// setUnusable records err, what usable returns from now on. The caller
// holds mu, and has set closed or failErr.
func (t *Transport) setUnusable() {
	err := t.usableLocked()
	t.unusable.Store(&err)
}

func (t *Transport) usableLocked() error {
	if t.closed {
		return errClosed
	}
	return t.failErr
}

// failure explains cause, an error of an operation (what) on conn: the
// transport was closed, a connection was lost, or the broker refused the
// operation.
func (t *Transport) failure(conn *amqp.Connection, what string, cause error) error {
	if err := t.usable(); err != nil {
		return err
	}
	if conn.IsClosed() {
		return fmt.Errorf("rabbit: %s: %w: %w", what, transport.ErrConnectionLost, cause)
	}
	return fmt.Errorf("rabbit: %s: %w", what, cause)
}

// Cast publishes a copy of req to tgt and returns once the broker
// confirmed it. A fanout cast goes to exchange <topic>_fanout with an
// empty key, as oslo.messaging sends it; others to the control exchange
// with routing key <topic> or <topic>.<server>. The message is mandatory:
// when no queue takes it, Cast fails at once with a
// *transport.NoRouteError.
//
// ctx bounds the publish and the wait for the broker's confirm: a cast
// carries no deadline (no AMQP expiration, no x-warren-deadline), as in
// oslo.messaging. While the connection is down, Cast waits for it within
// ctx; when the connection drops before the broker confirmed, Cast
// publishes the message again (same _unique_id) on the next connection.
// A Cast that returns an error may still have been delivered:
// errors.Is(err, transport.ErrOutcomeUnknown) says that the message
// reached the broker unconfirmed, transport.ErrNotSent that it never did.
// While the broker blocks publishing (a resource alarm), Cast waits within
// ctx and then fails with a *transport.BlockedError naming the broker's
// reason.
func (t *Transport) Cast(ctx context.Context, tgt target.Target, req *message.Request) error {
	if err := tgt.ValidateCast(); err != nil {
		return fmt.Errorf("rabbit: cast: %w", err)
	}
	if err := t.usable(); err != nil {
		return undelivered(false, err)
	}
	c, err := driver.CastCopy(ctx, req)
	if err != nil {
		return fmt.Errorf("rabbit: cast %s: %w", req.Method, err)
	}
	msg, err := t.requestPublishing(c, publishID(req, c), time.Time{})
	if err != nil {
		return fmt.Errorf("rabbit: cast %s: %w", req.Method, err)
	}
	r := topology.RouteOf(tgt, t.s.controlExchange)
	ex := t.s.queues.exchangeOf(r)
	return t.publish(ctx, &ex, r.Key, msg)
}

// Call publishes a copy of req to tgt, like Cast without fanout, and
// waits for the reply. The message carries the remaining time as its AMQP
// expiration (in ms, as oslo.messaging does) and ctx's deadline in header
// x-warren-deadline. Replies come back through one reply queue per
// transport, reply_<hex>, declared on the first call and declared again
// with the same name after a reconnect.
//
// A call is published mandatory without a publisher confirm, with its
// _msg_id as AMQP correlation_id: its reply says what a confirm would,
// and a message that no queue takes comes back and fails the call at once
// with a *transport.NoRouteError.
//
// A call waits for the connection within its deadline when it is down,
// and publishes again on the next connection when it dropped before the
// message was written. A call already published keeps waiting across a
// reconnect and completes when its reply arrives; either way it ends by
// its deadline, with a *transport.TimeoutError, or with a
// *transport.BlockedError when the broker blocked publishing all along.
// A call to a queue that has had no consumer for the NoConsumerGrace
// fails with a *transport.NoConsumerError (see the package doc).
func (t *Transport) Call(ctx context.Context, tgt target.Target, req *message.Request) (*message.Reply, error) {
	// Many calls may wait at once, each on its caller's goroutine: the
	// frame that waits is kept small, so that those stacks shrink.
	w, monitor, err := t.startCall(ctx, &tgt, req)
	if err != nil {
		return nil, err
	}
	return w.Wait(ctx, monitor)
}

// startCall publishes a copy of req, registered for its reply, and
// returns its waiter and call-monitor timeout. tgt is a pointer so that
// Call's waiting frame holds no second copy of it.
func (t *Transport) startCall(ctx context.Context, tgt *target.Target, req *message.Request) (*replywait.Waiter, time.Duration, error) {
	if err := tgt.ValidateCall(); err != nil {
		return nil, 0, fmt.Errorf("rabbit: call: %w", err)
	}
	c, deadline, err := driver.CallCopy(ctx, req)
	if err != nil {
		return nil, 0, fmt.Errorf("rabbit: call %s: %w", req.Method, err)
	}
	if err := t.usable(); err != nil {
		return nil, 0, err
	}
	// Register before choosing the reply queue: a loss, a Close or the end
	// of the reply consumer after that choice then fails this waiter too.
	w, err := t.registerCall(*tgt, c.MsgID, deadline)
	if err != nil {
		return nil, 0, err
	}
	if err := t.sendCall(ctx, *tgt, c, deadline); err != nil {
		w.Cancel()
		if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, transport.ErrBlocked) {
			return nil, 0, &transport.TimeoutError{MsgID: c.MsgID}
		}
		return nil, 0, err
	}
	return w, c.CallMonitor, nil
}

// sendCall publishes req, the transport's copy of a call registered for
// its reply, with the transport's reply queue and the remaining time as
// its expiration. A call carries no message_id, as oslo.messaging sends
// none: its correlation_id matches a basic.return to its waiter, and
// leaving the 32 characters off saves work in the client, the broker and
// the server on every call.
func (t *Transport) sendCall(ctx context.Context, tgt target.Target, req *message.Request, deadline time.Time) error {
	// A connection lost or a Close between the first usable and Register
	// would have missed the call in FailAll.
	if err := t.usable(); err != nil {
		return err
	}
	q, err := t.replyQueue(ctx)
	if err != nil {
		return err
	}
	req.ReplyTo = q
	msg, err := t.requestPublishing(req, "", deadline)
	if err != nil {
		return fmt.Errorf("rabbit: call %s: %w", req.Method, err)
	}
	remaining := time.Until(deadline)
	if remaining <= 0 {
		return context.DeadlineExceeded
	}
	msg.Expiration = strconv.FormatInt(int64((remaining+time.Millisecond-1)/time.Millisecond), 10)
	msg.CorrelationId = req.MsgID
	r := topology.RouteOf(tgt, t.s.controlExchange)
	ex := t.s.queues.exchangeOf(r)
	return t.publishCall(ctx, &ex, r.Key, msg)
}

// requestPublishing encodes req, the transport's copy, as an
// oslo.messaging message with AMQP message_id id (none when empty), req's application
// headers and, when not zero, deadline in header x-warren-deadline.
func (t *Transport) requestPublishing(req *message.Request, id string, deadline time.Time) (amqp.Publishing, error) {
	body, err := driver.Encode(req, t.s.maxMessageSize)
	if err != nil {
		return amqp.Publishing{}, err
	}
	msg := t.publishing(id, body)
	if len(req.Headers) > 0 || !deadline.IsZero() {
		if msg.Headers == nil {
			msg.Headers = make(amqp.Table, len(req.Headers)+1)
		}
		for k, v := range req.Headers {
			msg.Headers[k] = v
		}
		if !deadline.IsZero() {
			msg.Headers[deadlineHeader] = deadline.UnixMilli()
		}
	}
	return msg, nil
}

// publishID returns the AMQP message_id of one publish of c, the copy of
// the caller's req: c.UniqueID when the driver made it, else a new id,
// since the caller may send its UniqueID more than once and confirms are
// matched to returns by message_id.
func publishID(req, c *message.Request) string {
	if req.UniqueID == "" {
		return c.UniqueID
	}
	return wire.NewID()
}

// publishing returns the properties oslo.messaging puts on every message:
// JSON in UTF-8, persistent, priority 0, and message_id id. amqp091 leaves
// zero-valued properties (priority 0, empty headers, an empty id) off the
// wire, which readers treat the same.
func publishing(id string, body []byte) amqp.Publishing {
	return amqp.Publishing{
		ContentType:     contentType,
		ContentEncoding: contentEncoding,
		DeliveryMode:    amqp.Persistent,
		MessageId:       id,
		Body:            body,
	}
}

// publishing returns publishing(id, body), compressed as kombu's gzip
// with header compression when the transport's kombu_compression says so.
func (t *Transport) publishing(id string, body []byte) amqp.Publishing {
	msg := publishing(id, body)
	if t.s.compression == "gzip" {
		msg.Body = wire.Compress(body)
		msg.Headers = amqp.Table{compressionHeader: wire.Gzip}
	}
	return msg
}

// bodyOf returns the body of d within the transport's size limit,
// uncompressed when its compression header names kombu's gzip or bz2.
func (t *Transport) bodyOf(d *amqp.Delivery) ([]byte, error) {
	if err := driver.CheckSize(len(d.Body), t.s.maxMessageSize); err != nil {
		return nil, err
	}
	c, _ := d.Headers[compressionHeader].(string)
	if c == "" {
		return d.Body, nil
	}
	return wire.Decompress(d.Body, c, t.s.maxMessageSize)
}

// Close fails pending calls with an error matching transport.ErrClosed,
// stops reconnecting, closes the listeners (deleting their fanout
// queues), deletes the reply queue, closes both connections and waits for
// every goroutine of the transport. A broker that does not answer gets
// 5 s in all, then the connections are closed regardless and Close
// reports it. It is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closed = true
	t.setUnusable()
	t.setState(StateClosed, "", nil, "")
	close(t.done)
	if t.sess.Load() == nil && t.failErr == nil {
		close(t.up) // wake what waits for a connection
	}
	ls := make([]*listener, 0, len(t.listeners))
	for l := range t.listeners {
		ls = append(ls, l)
	}
	t.mu.Unlock()
	t.cancel()

	t.waiters.FailAll(errClosed)
	// Closing the listeners and deleting the reply queue are broker round
	// trips: a broker that stopped answering gets closeTimeout, then
	// closing the connections ends them.
	deadline := time.Now().Add(t.s.closeTimeout)
	cleaned := make(chan error, 1)
	go func() {
		var errs []error
		for _, l := range ls {
			errs = append(errs, l.Close())
		}
		errs = append(errs, t.closeReplyQueue())
		cleaned <- errors.Join(errs...)
	}()
	var errs []error
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case err := <-cleaned:
		errs = append(errs, err)
		cleaned = nil
	case <-timer.C:
		errs = append(errs, fmt.Errorf("rabbit: closing listeners and the reply queue: the broker did not answer within %v", t.s.closeTimeout))
	}
	if s := t.sess.Load(); s != nil {
		for _, c := range []*amqp.Connection{s.pub, s.con} {
			if err := c.CloseDeadline(deadline); err != nil && !errors.Is(err, amqp.ErrClosed) {
				errs = append(errs, fmt.Errorf("rabbit: closing connection: %w", err))
			}
		}
	}
	if cleaned != nil {
		<-cleaned // the closed connections ended its round trips
	}
	t.wg.Wait()
	return errors.Join(errs...)
}
