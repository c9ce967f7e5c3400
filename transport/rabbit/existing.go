package rabbit

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/transport"
)

// Exchanges that exist with other flags than the queue preset's: a
// Python service with amqp_durable_queues=True declared the control
// exchange durable, and warren runs the default preset. Publishing to it
// and binding queues to it are safe whatever its durable and auto_delete
// flags, so the transport declares it as the broker has it. Its type,
// internal flag and arguments change what reaches whom: those the
// transport never takes on, and a 406 naming them is an error.

// maxBookedExchanges bounds the exchanges a transport remembers.
const maxBookedExchanges = 4096

// exchangeBook remembers, for each exchange a transport declared, the
// declaration the broker accepted and the connections (publishing and
// consuming) it was accepted on.
type exchangeBook struct {
	mu sync.Mutex
	m  map[string]booked
}

type booked struct {
	decl  exchangeDecl
	conns [2]*amqp.Connection
}

// on reports whether e was accepted on conn.
func (e booked) on(conn *amqp.Connection) bool { return e.conns[0] == conn || e.conns[1] == conn }

func (b *exchangeBook) get(name string) (booked, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[name]
	return e, ok
}

// put records that d was accepted on conn, and returns the entry.
func (b *exchangeBook) put(d exchangeDecl, conn *amqp.Connection) booked {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil || len(b.m) >= maxBookedExchanges {
		b.m = make(map[string]booked)
	}
	e := booked{decl: d, conns: [2]*amqp.Connection{conn}}
	if old, ok := b.m[d.name]; ok && old.decl == d {
		e.conns[1] = old.conns[0]
	}
	b.m[d.name] = e
	return e
}

func (b *exchangeBook) forget(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, name)
}

// declareExchangeOn declares exchange ex on ch, as the broker has it: the
// first time on conn (ch's connection), on a channel of its own first, so
// that a 406 closes nothing else (see meetExchange). It returns the
// declaration used.
func (t *Transport) declareExchangeOn(conn *amqp.Connection, ch *amqp.Channel, ex exchangeDecl) (exchangeDecl, error) {
	e, ok := t.exchanges.get(ex.name)
	if !ok || !e.on(conn) {
		from := ex
		if ok {
			from = e.decl // as the broker had it before the reconnect
		}
		d, err := meetExchange(conn, from)
		if err != nil {
			return ex, err
		}
		if d != ex && (!ok || e.decl != d) {
			t.log.Info("rabbit: using an exchange that exists with other flags than the queue preset's",
				"exchange", d.name, "durable", d.durable, "auto_delete", d.autoDelete)
		}
		e = t.exchanges.put(d, conn)
	}
	if err := e.decl.declare(ch); err != nil {
		// Redeclared otherwise since: find out again next time.
		t.exchanges.forget(ex.name)
		return ex, err
	}
	return e.decl, nil
}

// meetExchange declares d on channels of their own on conn until the
// broker accepts it, taking on the durable and auto_delete flags the
// broker reports for the exchange in a 406 (RabbitMQ compares type,
// durable, auto_delete, internal and arguments in this order and names
// the first that differs, with its current value). It returns the
// declaration the broker accepted, which is equivalent to the exchange in
// every field, or the error of a 406 on another field.
func meetExchange(conn *amqp.Connection, d exchangeDecl) (exchangeDecl, error) {
	// The original, then durable, then auto_delete as the broker has them.
	for attempt := 0; ; attempt++ {
		ch, err := conn.Channel()
		if err != nil {
			return d, err
		}
		err = d.declare(ch)
		if err == nil {
			_ = ch.Close()
			return d, nil
		}
		// A refused declare closed ch.
		var ae *amqp.Error
		if !errors.As(err, &ae) || ae.Code != amqp.PreconditionFailed {
			return d, err
		}
		current, ok := brokerFlag(ae.Reason)
		switch arg := inequivalentArg(ae.Reason); {
		case !ok || attempt == 2:
			return d, err
		case arg == "durable" && d.durable != current:
			d.durable = current
		case arg == "auto_delete" && d.autoDelete != current:
			d.autoDelete = current
		default:
			return d, err
		}
	}
}

// brokerFlag returns the current value of a boolean flag that a 406
// reason reports; ok is false when the reason reports no boolean.
func brokerFlag(reason string) (current, ok bool) {
	switch _, v := brokerValues(reason); v {
	case "'true'":
		return true, true
	case "'false'":
		return false, true
	}
	return false, false
}

// brokerValues returns the values a 406 reason reports, as RabbitMQ
// words them ("... received 'false' but current is 'true'", "received
// none but current is the value 'quorum' of type 'longstr'"); both are ""
// when it reports none.
func brokerValues(reason string) (received, current string) {
	_, rest, ok := strings.Cut(reason, ": received ")
	if !ok {
		return "", ""
	}
	received, current, ok = strings.Cut(rest, " but current is ")
	if !ok {
		return "", ""
	}
	return received, current
}

// declare declares exchange ex before a publish on pc: once per channel,
// or before every publish when it is auto-delete, since an auto-delete
// exchange vanishes with its last binding and publishing to a missing
// exchange closes the channel. Only the first declare of an auto-delete
// exchange on pc waits for the broker's answer: the later ones, the same
// declaration the broker took, go without waiting (nowait), and the
// broker handles each before the publish that follows it. Should one
// fail all the same (the exchange was made again with other flags), the
// broker closes the channel, which fails the publishes awaiting their
// confirm on it; the next channel declares it afresh. Only pc's writer
// calls it.
func (pc *pubChannel) declare(ex *exchangeDecl) error {
	if ex == nil || pc.declared[ex.name] {
		return nil
	}
	if d, ok := pc.redeclare[ex.name]; ok {
		err := pc.ch.ExchangeDeclare(d.name, d.kind, d.durable, d.autoDelete, false, true, nil)
		if err != nil {
			return pc.t.failure(pc.conn, fmt.Sprintf("declaring exchange %q", ex.name), err)
		}
		return nil
	}
	d, err := pc.t.declareExchangeOn(pc.conn, pc.ch, *ex)
	if err != nil {
		return pc.t.failure(pc.conn, fmt.Sprintf("declaring exchange %q", ex.name), err)
	}
	if d.autoDelete {
		pc.redeclare[ex.name] = d
	} else {
		pc.declared[ex.name] = true
	}
	return nil
}

// declareWaits reports whether declaring ex on pc waits for the broker.
func (pc *pubChannel) declareWaits(ex *exchangeDecl) bool {
	if ex == nil || pc.declared[ex.name] {
		return false
	}
	_, ok := pc.redeclare[ex.name]
	return !ok
}

// existingQueue reports whether queue exists, with a passive declare on a
// channel of its own on conn, since a miss closes the channel.
func existingQueue(conn *amqp.Connection, queue string) (bool, error) {
	ch, err := conn.Channel()
	if err != nil {
		return false, err
	}
	_, err = ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err == nil {
		_ = ch.Close()
		return true, nil
	}
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return false, nil
	}
	return false, err
}

// currentConn returns the consuming connection of the current session,
// for the declarations of a listener, which are given only a channel.
func (t *Transport) currentConn(what string) (*amqp.Connection, error) {
	s := t.sess.Load()
	if s == nil {
		return nil, fmt.Errorf("rabbit: %s: %w", what, transport.ErrConnectionLost)
	}
	return s.con, nil
}
