package rabbit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenrpc/warren/transport"
)

const (
	// publishChannels is the size of each of a transport's two pools of
	// publishing channels. Publishes on one channel are written one at a
	// time, but their confirms are awaited in parallel.
	publishChannels = 4
	// notifyBuffer is the capacity of the confirm and return channels
	// amqp091 fills from its reader goroutine.
	notifyBuffer = 256
)

// publisher is one slot of a session's pools: it holds a publishing
// channel and opens a new one when the broker closed it.
type publisher struct {
	t       *Transport
	s       *session
	confirm bool       // its channels are in confirm mode
	mu      sync.Mutex // serializes opening a channel
	pc      atomic.Pointer[pubChannel]
}

// pubChannel is an AMQP channel and, in confirm mode, the publishes
// awaiting their confirm on it. Its writer goroutine declares exchanges
// and writes the publishes handed to it in the order they came, those
// waiting together in one socket write (see writer); its track goroutine
// settles them. A channel without confirms
// carries calls and replies: a call's reply says what a confirm would,
// and the track goroutine fails the call of each message that comes back
// unroutable, found by its correlation_id, and logs each reply that comes
// back (the caller is gone).
//
// Handing publishes to a writer that lives as long as the channel, rather
// than to a goroutine of their own, is what lets a publisher stop waiting
// at its ctx's end while amqp091, which takes no ctx, writes on (see
// pubRequest) at the cost of two channel operations per publish.
type pubChannel struct {
	t       *Transport
	conn    *amqp.Connection
	cork    *corkedConn // the socket of conn
	ch      *amqp.Channel
	confirm bool

	queue chan *pubRequest // to the writer
	gone  chan struct{}    // closed once ch closed and err is set

	// Owned by the writer goroutine.
	tag       uint64                  // delivery tag of the last publish
	declared  map[string]bool         // exchanges declared on ch
	redeclare map[string]exchangeDecl // auto-delete exchanges declared on ch, as the broker took them

	mu      sync.Mutex
	err     error               // why ch is unusable; nil while it is open
	pending map[uint64]*confirm // by delivery tag
	byID    map[string]*confirm // by AMQP message_id, to match basic.return
}

// pubRequest is one publish handed to a channel's writer. Its state is
// the gate between the publisher and the writer: whichever moves it from
// gateOpen first decides whether the message is written.
type pubRequest struct {
	ctx   context.Context
	ex    *exchangeDecl
	key   string
	msg   amqp.Publishing // a copy: the request outlives a publisher that stopped waiting
	state atomic.Int32

	// Set by the writer before done closes.
	c     *confirm // nil without confirms
	wrote bool     // the message reached the socket
	err   error
	done  chan struct{}
}

// queueDepth is how many publishes may wait for a channel's writer.
const queueDepth = 64

// confirm is one publish awaiting the broker's verdict.
type confirm struct {
	tag           uint64
	id            string
	exchange, key string
	noRoute       bool          // a basic.return came back; set and read by track only
	err           error         // the verdict; written before done closes
	done          chan struct{} // closed once settled
}

// Values of the gate between a publish and the writer.
const (
	gateOpen      int32 = iota // not written yet
	gateWriting                // being written
	gateWritten                // the writer is done with it
	gateAbandoned              // the publisher stopped waiting
)

// publish sends msg to exchange ex (nil: the default exchange) with
// routing key key, mandatory, and waits for the broker's confirm: nil on
// basic.ack, a *transport.NoRouteError when the message came back
// unroutable, an error on basic.nack, a closed transport or ctx's end.
//
// publish waits for the connection within ctx while it is down, and
// publishes msg again on the next connection when one dropped before the
// broker confirmed, so that no message is silently lost. Other errors
// match transport.ErrNotSent when msg never reached the broker and
// transport.ErrOutcomeUnknown when it did, unconfirmed. While the broker
// blocks publishing, publish waits within ctx and then fails with a
// *transport.BlockedError.
func (t *Transport) publish(ctx context.Context, ex *exchangeDecl, key string, msg amqp.Publishing) error {
	return t.publishWith(ctx, ex, key, msg, true)
}

// publishCall publishes msg, a call whose correlation_id is its _msg_id,
// like publish, but returns once msg is written, without waiting for a
// confirm: the call's reply tells that it arrived, and a basic.return
// fails the call's waiter with a *transport.NoRouteError. A call written
// on a connection that then drops is not published again: it waits for
// its reply, and ends at its deadline when the message was lost.
func (t *Transport) publishCall(ctx context.Context, ex *exchangeDecl, key string, msg amqp.Publishing) error {
	return t.publishWith(ctx, ex, key, msg, false)
}

func (t *Transport) publishWith(ctx context.Context, ex *exchangeDecl, key string, msg amqp.Publishing, confirmed bool) error {
	var sent bool // some attempt reached the broker unconfirmed
	for {
		s, err := t.session(ctx)
		if err != nil {
			return undelivered(sent, err)
		}
		wrote, err := t.publishOn(ctx, s, ex, key, &msg, confirmed)
		if err == nil {
			return nil
		}
		sent = sent || wrote
		if !errors.Is(err, transport.ErrConnectionLost) || ctx.Err() != nil || t.usable() != nil {
			return undelivered(sent, err)
		}
		t.log.Debug("rabbit: publishing again after the connection dropped", "exchange", exchangeName(ex), "routing_key", key)
	}
}

// nackError is a basic.nack: the broker could not take the message (a
// queue process failed), so it is not delivered.
type nackError struct{ exchange, key string }

func (e *nackError) Error() string {
	return fmt.Sprintf("rabbit: the broker refused a message to exchange %q, routing key %q (basic.nack)", e.exchange, e.key)
}

// undelivered marks err, which ended a publish, with what is known of the
// message's fate.
func undelivered(sent bool, err error) error {
	var (
		noRoute *transport.NoRouteError
		nack    *nackError
	)
	switch {
	case errors.As(err, &noRoute):
		return err // the broker returned it: known not delivered
	case sent && !errors.As(err, &nack):
		return fmt.Errorf("%w (%w)", err, transport.ErrOutcomeUnknown)
	default:
		return fmt.Errorf("%w (%w)", err, transport.ErrNotSent)
	}
}

func exchangeName(ex *exchangeDecl) string {
	if ex == nil {
		return ""
	}
	return ex.name
}

// publishOn publishes msg on session s once, on a channel in confirm mode
// or not; wrote tells whether msg reached the socket.
func (t *Transport) publishOn(ctx context.Context, s *session, ex *exchangeDecl, key string, msg *amqp.Publishing, confirmed bool) (wrote bool, err error) {
	if reason, unblocked := s.blockedBy(); unblocked != nil {
		select {
		case <-unblocked:
		case <-ctx.Done():
			return false, fmt.Errorf("rabbit: publishing: %w: %w", &transport.BlockedError{Reason: reason}, ctx.Err())
		}
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("rabbit: publishing: %w", err)
	}
	pool := s.pubs
	if !confirmed {
		pool = s.calls
	}
	p := pool[s.next.Add(1)%uint64(len(pool))]
	pc := p.open()
	if pc == nil {
		// Opening a channel is a broker round trip, which can block on a
		// broker that stopped answering.
		if pc, err = awaitBroker(ctx, t, "publishing", p.channel, nil); err != nil {
			return false, err
		}
	}
	r := &pubRequest{ctx: ctx, ex: ex, key: key, msg: *msg, done: make(chan struct{})}
	select {
	case pc.queue <- r:
	case <-pc.gone:
		return false, pc.failed()
	case <-ctx.Done():
		return false, fmt.Errorf("rabbit: publishing: %w", ctx.Err())
	}
	// Declaring the exchange and writing the message can each block on a
	// broker that stopped answering.
	for gone := pc.gone; ; {
		select {
		case <-r.done:
		case <-gone:
			if r.state.CompareAndSwap(gateOpen, gateAbandoned) {
				return false, pc.failed() // the writer never took it
			}
			gone = nil // the writer has it, and ends with the channel
			continue
		case <-ctx.Done():
			if r.state.CompareAndSwap(gateOpen, gateAbandoned) {
				return false, fmt.Errorf("rabbit: publishing: %w", ctx.Err())
			}
			if r.state.CompareAndSwap(gateWriting, gateAbandoned) {
				// A write the publisher stopped waiting for may go on;
				// the writer forgets its confirm.
				return true, fmt.Errorf("rabbit: publishing: %w", ctx.Err())
			}
			<-r.done // written: done is closing
		}
		break
	}
	if r.err != nil {
		return r.wrote, r.err
	}
	if r.c == nil {
		return true, nil // no confirm to wait for
	}
	select {
	case <-r.c.done:
		return r.c.err != nil, r.c.err
	case <-ctx.Done():
		pc.forget(r.c)
		err := ctx.Err()
		if reason, blocked := s.blockedBy(); blocked != nil {
			err = fmt.Errorf("%w: %w", &transport.BlockedError{Reason: reason}, err)
		}
		return true, fmt.Errorf("rabbit: waiting for the broker to confirm a message to exchange %q: %w", r.c.exchange, err)
	}
}

// open returns the slot's channel when it is open, or nil.
func (p *publisher) open() *pubChannel {
	pc := p.pc.Load()
	if pc == nil || pc.dead() {
		return nil
	}
	return pc
}

// channel returns the slot's open channel, opening one when needed.
func (p *publisher) channel() (*pubChannel, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc := p.open(); pc != nil {
		return pc, nil
	}
	pc, err := p.t.openPubChannel(p.s.pub, p.s.cork, p.confirm)
	if err != nil {
		return nil, err
	}
	p.pc.Store(pc)
	return pc, nil
}

func (t *Transport) openPubChannel(conn *amqp.Connection, cork *corkedConn, confirmed bool) (*pubChannel, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, t.failure(conn, "opening a publishing channel", err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, notifyBuffer))
	returns := ch.NotifyReturn(make(chan amqp.Return, notifyBuffer))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if confirmed {
		if err := ch.Confirm(false); err != nil {
			_ = ch.Close()
			return nil, t.failure(conn, "enabling publisher confirms", err)
		}
	}
	pc := &pubChannel{
		t:         t,
		conn:      conn,
		cork:      cork,
		ch:        ch,
		confirm:   confirmed,
		queue:     make(chan *pubRequest, queueDepth),
		gone:      make(chan struct{}),
		declared:  make(map[string]bool),
		redeclare: make(map[string]exchangeDecl),
		pending:   make(map[uint64]*confirm),
		byID:      make(map[string]*confirm),
	}
	if !t.spawn(func() { pc.track(confirms, returns, closed) }) {
		_ = ch.Close()
		return nil, errClosed
	}
	if !t.spawn(pc.writer) {
		_ = ch.Close() // track ends with it
		return nil, errClosed
	}
	return pc, nil
}

func (pc *pubChannel) dead() bool {
	select {
	case <-pc.gone:
		return true
	default:
		return pc.ch.IsClosed()
	}
}

// failed returns why the channel closed, once gone is closed.
func (pc *pubChannel) failed() error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.err
}

// writer publishes what the channel's publishers hand it until the
// channel closes. It takes at once every publish already waiting, up to
// batchMax, and writes them under one cork of the connection: one system
// call for all of them instead of one each.
func (pc *pubChannel) writer() {
	batch := make([]*pubRequest, 0, batchMax)
	for {
		select {
		case r := <-pc.queue:
			batch = append(batch, r)
		case <-pc.gone:
			return
		}
		if len(pc.queue) == 0 {
			// Publishers that are running may be about to hand over
			// theirs: let them, so that they join the batch.
			runtime.Gosched()
		}
	fill:
		for len(batch) < batchMax {
			select {
			case r := <-pc.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		pc.take(batch)
		clear(batch)
		batch = batch[:0]
	}
}

// batchMax is the most publishes a writer writes under one cork.
const batchMax = 32

// take writes the publishes of batch, except those whose publisher
// stopped waiting, and hands back their outcomes. The connection stays
// corked only while the writer writes: a batch that must declare an
// exchange first, a broker round trip, is written uncorked.
func (pc *pubChannel) take(batch []*pubRequest) {
	corked := len(batch) > 1
	for _, r := range batch {
		if pc.declareWaits(r.ex) {
			corked = false
		}
	}
	if corked {
		pc.cork.cork()
	}
	for _, r := range batch {
		if r.state.Load() != gateAbandoned {
			r.c, r.err = pc.send(r)
		}
	}
	if corked {
		if err := pc.cork.uncork(); err != nil {
			// The socket is closed (see corkedConn) and some of the
			// batch may have reached the broker: each written one's
			// outcome is unknown, and a cast is published again on the
			// next connection.
			if uerr := pc.t.usable(); uerr != nil {
				err = uerr
			} else {
				err = fmt.Errorf("rabbit: publishing: %w: %w", transport.ErrConnectionLost, err)
			}
			for _, r := range batch {
				if r.wrote && r.err == nil {
					pc.forget(r.c)
					r.c, r.err = nil, err
				}
			}
		}
	}
	for _, r := range batch {
		if !r.state.CompareAndSwap(gateWriting, gateWritten) {
			// Abandoned while written, or before: nobody waits for it.
			pc.forget(r.c)
		}
		close(r.done)
	}
}

// send declares r's exchange (see declare), registers the publish and
// writes it, unless r's ctx ended or its publisher abandoned it
// meanwhile. The registration precedes the write so that track can never
// see a confirm or return it does not know. On a channel without confirms
// nothing is registered, and send returns a nil *confirm. Only the writer
// calls it.
func (pc *pubChannel) send(r *pubRequest) (*confirm, error) {
	ex := r.ex
	var exchange string
	if ex != nil {
		exchange = ex.name
		if err := pc.declare(ex); err != nil {
			return nil, err
		}
	}
	if err := r.ctx.Err(); err != nil {
		return nil, fmt.Errorf("rabbit: publishing: %w", err)
	}
	if !pc.confirm {
		return nil, pc.write(r, exchange)
	}
	c := &confirm{id: r.msg.MessageId, exchange: exchange, key: r.key, done: make(chan struct{})}
	pc.mu.Lock()
	if pc.err != nil {
		err := pc.err
		pc.mu.Unlock()
		return nil, err
	}
	c.tag = pc.tag + 1
	pc.pending[c.tag] = c
	pc.byID[c.id] = c
	pc.mu.Unlock()
	if err := pc.write(r, exchange); err != nil {
		pc.forget(c)
		return nil, err
	}
	pc.tag = c.tag
	return c, nil
}

// write publishes r's message, mandatory, unless its publisher abandoned
// it when its ctx ended.
func (pc *pubChannel) write(r *pubRequest, exchange string) error {
	if !r.state.CompareAndSwap(gateOpen, gateWriting) {
		return fmt.Errorf("rabbit: publishing: %w", r.ctx.Err())
	}
	if err := pc.ch.Publish(exchange, r.key, true, false, r.msg); err != nil {
		// The frames did not all go out: the broker drops a partial
		// message, so it counts as not sent.
		return pc.t.failure(pc.conn, fmt.Sprintf("publishing to exchange %q", exchange), err)
	}
	r.wrote = true
	return nil
}

// forget drops c, whose publisher stopped waiting; c may be nil.
func (pc *pubChannel) forget(c *confirm) {
	if c == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.pending[c.tag] == c {
		delete(pc.pending, c.tag)
	}
	if pc.byID[c.id] == c {
		delete(pc.byID, c.id)
	}
}

// track settles the channel's publishes until the channel closes.
//
// RabbitMQ sends the basic.return of an unroutable mandatory message
// before its basic.ack, and amqp091 hands both over in that order from its
// single reader goroutine. Draining the returns already queued before
// settling each confirm therefore never misses the return of the message
// being confirmed.
func (pc *pubChannel) track(confirms <-chan amqp.Confirmation, returns <-chan amqp.Return, closed <-chan *amqp.Error) {
	for {
		select {
		case r, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			pc.returned(&r)
		case conf, ok := <-confirms:
			if !ok {
				// amqp091 closes the listeners after queuing the close
				// reason, so this receive does not block.
				pc.shutdown(<-closed)
				return
			}
		drain:
			for returns != nil {
				select {
				case r, ok := <-returns:
					if !ok {
						returns = nil
						break drain
					}
					pc.returned(&r)
				default:
					break drain
				}
			}
			pc.settle(conf)
		}
	}
}

func (pc *pubChannel) returned(r *amqp.Return) {
	if !pc.confirm {
		switch {
		case r.CorrelationId != "":
			pc.t.waiters.Fail(r.CorrelationId, &transport.NoRouteError{Exchange: r.Exchange, RoutingKey: r.RoutingKey})
		case r.Exchange == "":
			pc.t.log.Warn("rabbit: dropping a reply: the caller's reply queue is gone", "reply_queue", r.RoutingKey)
		}
		return
	}
	pc.mu.Lock()
	c := pc.byID[r.MessageId]
	pc.mu.Unlock()
	if c != nil {
		c.noRoute = true
	}
}

func (pc *pubChannel) settle(conf amqp.Confirmation) {
	pc.mu.Lock()
	c := pc.pending[conf.DeliveryTag]
	if c != nil {
		delete(pc.pending, c.tag)
		if pc.byID[c.id] == c {
			delete(pc.byID, c.id)
		}
	}
	pc.mu.Unlock()
	if c == nil {
		return // its publisher stopped waiting
	}
	switch {
	case !conf.Ack:
		c.err = &nackError{exchange: c.exchange, key: c.key}
	case c.noRoute:
		c.err = &transport.NoRouteError{Exchange: c.exchange, RoutingKey: c.key}
	}
	close(c.done)
}

// shutdown fails every pending publish once the channel closed, for
// reason e (nil when closed by us).
func (pc *pubChannel) shutdown(e *amqp.Error) {
	var cause error = amqp.ErrClosed
	if e != nil {
		cause = e
	}
	err := pc.t.failure(pc.conn, "publishing channel closed", cause)
	pc.mu.Lock()
	pc.err = err
	pending := pc.pending
	pc.pending, pc.byID = nil, nil
	pc.mu.Unlock()
	close(pc.gone)
	for _, c := range pending {
		c.err = err
		close(c.done)
	}
}
