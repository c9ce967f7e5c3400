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
	"github.com/warrenrpc/warren/internal/replywait"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// closeTimeout bounds the AMQP close handshake of a connection or channel.
const closeTimeout = 5 * time.Second

var errClosed = fmt.Errorf("rabbit: %w", transport.ErrClosed)

var _ transport.Transport = (*Transport)(nil)

// Transport is the RabbitMQ driver: one connection for publishing and one
// for consuming, so that broker flow control on publishers never stalls
// consumers. It is safe for concurrent use by multiple goroutines.
//
// A Transport does not reconnect: when either connection drops, pending
// calls and listeners fail with an error matching
// transport.ErrConnectionLost and every later operation returns it; Close
// it and Dial again.
type Transport struct {
	s   settings
	log *slog.Logger

	pubConn, conConn *amqp.Connection
	pubs             []*publisher
	next             atomic.Uint64 // round robin over pubs

	waiters *replywait.Waiters

	replyMu sync.Mutex    // serializes the reply queue's lazy set-up
	replyQ  string        // reply queue name; "" until the first call
	replyCh *amqp.Channel // channel consuming replyQ

	mu        sync.Mutex
	closed    bool
	lostErr   error
	listeners map[*listener]struct{}
	done      chan struct{} // closed by Close
	lost      chan struct{} // closed when a connection is lost
	wg        sync.WaitGroup
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

// usable returns why the transport cannot be used, or nil.
func (t *Transport) usable() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errClosed
	}
	return t.lostErr
}

// failure explains cause, an error of an operation (what) on conn: the
// transport was closed, a connection was lost, or the broker refused the
// operation.
func (t *Transport) failure(conn *amqp.Connection, what string, cause error) error {
	if err := t.usable(); err != nil {
		return err
	}
	if conn.IsClosed() {
		return fmt.Errorf("rabbit: %s: %w: %v", what, transport.ErrConnectionLost, cause)
	}
	return fmt.Errorf("rabbit: %s: %v", what, cause)
}

// Cast publishes req to tgt and returns once the broker confirmed it. A
// fanout cast goes to exchange <topic>_fanout; others to the control
// exchange with routing key <topic> or <topic>.<server>. The message is
// mandatory: when no queue takes it, Cast fails at once with a
// *transport.NoRouteError.
//
// ctx bounds only the wait for the broker's confirm: its deadline is not
// the cast's. A non-zero req.Deadline travels in header x-warren-deadline,
// so that a Go server skips the cast once it passed; as in oslo.messaging,
// a cast carries no AMQP expiration.
func (t *Transport) Cast(ctx context.Context, tgt target.Target, req *transport.Request) error {
	if err := tgt.ValidateCast(); err != nil {
		return fmt.Errorf("rabbit: cast: %w", err)
	}
	if err := t.usable(); err != nil {
		return err
	}
	msg, err := t.requestPublishing(req, req.Deadline)
	if err != nil {
		return err
	}
	ex, key := topicExchange(t.controlExchange(tgt)), routingKey(tgt)
	if tgt.Fanout {
		// oslo.messaging publishes fanout casts with an empty key, which
		// the fanout exchange ignores.
		ex, key = fanoutExchange(tgt.Topic), ""
	}
	return t.publish(ctx, &ex, key, msg)
}

// Call publishes req to tgt, like Cast without fanout, and waits for the
// reply. The message carries the remaining time as its AMQP expiration
// (in ms, as oslo.messaging does) and the deadline in header
// x-warren-deadline. Replies come back through one reply queue per
// transport, reply_<hex>, declared on the first call.
func (t *Transport) Call(ctx context.Context, tgt target.Target, req *transport.Request) (*transport.Reply, error) {
	if err := tgt.ValidateCall(); err != nil {
		return nil, fmt.Errorf("rabbit: call: %w", err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil, fmt.Errorf("rabbit: call %s: %w", req.Method, transport.ErrNoDeadline)
	}
	if err := t.usable(); err != nil {
		return nil, err
	}
	req.MsgID = wire.NewID()
	timeout := &transport.TimeoutError{MsgID: req.MsgID}
	q, err := t.replyQueue(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, timeout
		}
		return nil, err
	}
	req.ReplyTo = q
	msg, err := t.requestPublishing(req, deadline)
	if err != nil {
		return nil, err
	}
	remaining := time.Until(deadline)
	if remaining <= 0 {
		return nil, timeout
	}
	msg.Expiration = strconv.FormatInt(int64((remaining+time.Millisecond-1)/time.Millisecond), 10)

	w := t.waiters.Register(req.MsgID)
	// A connection lost or a Close between usable and Register would have
	// missed this waiter in FailAll.
	if err := t.usable(); err != nil {
		w.Cancel()
		return nil, err
	}
	ex := topicExchange(t.controlExchange(tgt))
	if err := t.publish(ctx, &ex, routingKey(tgt), msg); err != nil {
		w.Cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, timeout
		}
		return nil, err
	}
	return w.Wait(ctx, req.CallMonitor)
}

// requestPublishing encodes req as an oslo.messaging message. It sets
// req.UniqueID when empty; the AMQP message_id is unique per publish and
// equals it then.
func (t *Transport) requestPublishing(req *transport.Request, deadline time.Time) (amqp.Publishing, error) {
	id := wire.NewID()
	if req.UniqueID == "" {
		req.UniqueID = id
	}
	body, err := wire.EncodeRequest(req)
	if err != nil {
		return amqp.Publishing{}, fmt.Errorf("rabbit: encoding request %s: %w", req.Method, err)
	}
	if err := t.checkSize(len(body)); err != nil {
		return amqp.Publishing{}, err
	}
	msg := publishing(id, body)
	if !deadline.IsZero() {
		msg.Headers = amqp.Table{deadlineHeader: deadline.UnixMilli()}
	}
	return msg, nil
}

func (t *Transport) checkSize(n int) error {
	if n > t.s.maxMessageSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrMessageTooLarge, n, t.s.maxMessageSize)
	}
	return nil
}

// publishing returns the properties oslo.messaging puts on every message:
// JSON in UTF-8, persistent, priority 0. amqp091 leaves zero-valued
// properties (priority 0, empty headers) off the wire, which readers treat
// the same.
func publishing(id string, body []byte) amqp.Publishing {
	return amqp.Publishing{
		ContentType:     contentType,
		ContentEncoding: contentEncoding,
		DeliveryMode:    amqp.Persistent,
		MessageId:       id,
		Body:            body,
	}
}

// Close closes the listeners (deleting their fanout queues), deletes the
// reply queue, fails pending calls with an error matching
// transport.ErrClosed, closes both connections and waits for every
// goroutine of the transport. It is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closed = true
	close(t.done)
	ls := make([]*listener, 0, len(t.listeners))
	for l := range t.listeners {
		ls = append(ls, l)
	}
	t.mu.Unlock()

	var errs []error
	for _, l := range ls {
		errs = append(errs, l.Close())
	}
	t.waiters.FailAll(errClosed)
	errs = append(errs, t.closeReplyQueue())
	deadline := time.Now().Add(closeTimeout)
	for _, c := range []*amqp.Connection{t.pubConn, t.conConn} {
		if err := c.CloseDeadline(deadline); err != nil && !errors.Is(err, amqp.ErrClosed) {
			errs = append(errs, fmt.Errorf("rabbit: closing connection: %v", err))
		}
	}
	t.wg.Wait()
	return errors.Join(errs...)
}
