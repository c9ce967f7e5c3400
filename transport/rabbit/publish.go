package rabbit

import (
	"context"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenrpc/warren/transport"
)

const (
	// publishChannels is the size of a transport's pool of publishing
	// channels. Publishes on one channel are written one at a time, but
	// their confirms are awaited in parallel.
	publishChannels = 4
	// notifyBuffer is the capacity of the confirm and return channels
	// amqp091 fills from its reader goroutine.
	notifyBuffer = 256
)

// publisher is one slot of the pool: it holds a publishing channel and
// opens a new one when the broker closed it.
type publisher struct {
	t  *Transport
	mu sync.Mutex
	pc *pubChannel
}

// pubChannel is an AMQP channel in confirm mode and the publishes awaiting
// their confirm on it. Its track goroutine settles them.
type pubChannel struct {
	t  *Transport
	ch *amqp.Channel

	pubMu    sync.Mutex      // orders publishes, hence delivery tags, and serializes declares
	tag      uint64          // delivery tag of the last publish; guarded by pubMu
	declared map[string]bool // exchanges declared on ch; guarded by pubMu

	mu      sync.Mutex
	err     error               // why ch is unusable; nil while it is open
	pending map[uint64]*confirm // by delivery tag
	byID    map[string]*confirm // by AMQP message_id, to match basic.return
}

// confirm is one publish awaiting the broker's verdict.
type confirm struct {
	tag           uint64
	id            string
	exchange, key string
	noRoute       bool          // a basic.return came back; set and read by track only
	err           error         // the verdict; written before done closes
	done          chan struct{} // closed once settled
}

// publish sends msg to exchange ex (nil: the default exchange) with
// routing key key, mandatory, and waits for the broker's confirm: nil on
// basic.ack, a *transport.NoRouteError when the message came back
// unroutable, an error on basic.nack, a closed channel or ctx's end.
func (t *Transport) publish(ctx context.Context, ex *exchangeDecl, key string, msg amqp.Publishing) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rabbit: publishing: %w", err)
	}
	p := t.pubs[t.next.Add(1)%uint64(len(t.pubs))]
	type sent struct {
		pc *pubChannel
		c  *confirm
	}
	// Opening a channel, declaring the exchange and writing the message
	// can each block on a broker that stopped answering.
	s, err := awaitBroker(ctx, t, "publishing", func() (sent, error) {
		pc, err := p.channel()
		if err != nil {
			return sent{}, err
		}
		c, err := pc.send(ctx, ex, key, msg)
		return sent{pc, c}, err
	}, func(s sent) { s.pc.forget(s.c) })
	if err != nil {
		return err
	}
	select {
	case <-s.c.done:
		return s.c.err
	case <-ctx.Done():
		s.pc.forget(s.c)
		return fmt.Errorf("rabbit: waiting for the broker to confirm a message to exchange %q: %w", s.c.exchange, ctx.Err())
	}
}

// channel returns the slot's open channel, opening one when needed.
func (p *publisher) channel() (*pubChannel, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pc != nil && !p.pc.dead() {
		return p.pc, nil
	}
	pc, err := p.t.openPubChannel()
	if err != nil {
		return nil, err
	}
	p.pc = pc
	return pc, nil
}

func (t *Transport) openPubChannel() (*pubChannel, error) {
	ch, err := t.pubConn.Channel()
	if err != nil {
		return nil, t.failure(t.pubConn, "opening a publishing channel", err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, notifyBuffer))
	returns := ch.NotifyReturn(make(chan amqp.Return, notifyBuffer))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, t.failure(t.pubConn, "enabling publisher confirms", err)
	}
	pc := &pubChannel{
		t:        t,
		ch:       ch,
		declared: make(map[string]bool),
		pending:  make(map[uint64]*confirm),
		byID:     make(map[string]*confirm),
	}
	if !t.spawn(func() { pc.track(confirms, returns, closed) }) {
		_ = ch.Close()
		return nil, errClosed
	}
	return pc, nil
}

func (pc *pubChannel) dead() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.err != nil || pc.ch.IsClosed()
}

// send declares ex on first use, registers the publish and writes it,
// unless ctx ended meanwhile. The registration precedes the write so that
// track can never see a confirm or return it does not know.
func (pc *pubChannel) send(ctx context.Context, ex *exchangeDecl, key string, msg amqp.Publishing) (*confirm, error) {
	pc.pubMu.Lock()
	defer pc.pubMu.Unlock()
	c := &confirm{id: msg.MessageId, key: key, done: make(chan struct{})}
	if ex != nil {
		c.exchange = ex.name
		if !pc.declared[ex.name] {
			if err := ex.declare(pc.ch); err != nil {
				return nil, pc.t.failure(pc.t.pubConn, fmt.Sprintf("declaring exchange %q", ex.name), err)
			}
			// An auto-delete exchange vanishes with its last binding, and
			// publishing to a missing exchange closes the channel: declare
			// those before every publish.
			if !ex.autoDelete {
				pc.declared[ex.name] = true
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rabbit: publishing: %w", err)
	}
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
	if err := pc.ch.Publish(c.exchange, key, true, false, msg); err != nil {
		pc.forget(c)
		return nil, pc.t.failure(pc.t.pubConn, fmt.Sprintf("publishing to exchange %q", c.exchange), err)
	}
	pc.tag = c.tag
	return c, nil
}

// forget drops c, whose publisher stopped waiting.
func (pc *pubChannel) forget(c *confirm) {
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
		c.err = fmt.Errorf("rabbit: the broker refused a message to exchange %q, routing key %q (basic.nack)", c.exchange, c.key)
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
	err := pc.t.failure(pc.t.pubConn, "publishing channel closed", cause)
	pc.mu.Lock()
	pc.err = err
	pending := pc.pending
	pc.pending, pc.byID = nil, nil
	pc.mu.Unlock()
	for _, c := range pending {
		c.err = err
		close(c.done)
	}
}
