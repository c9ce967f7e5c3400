package rabbit

import (
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/transport"
)

// Names and flags of everything declared on the broker. They match what
// oslo.messaging 14 declares with its defaults (amqp_durable_queues=False,
// amqp_auto_delete=False, no quorum queues), so Python and Go peers can
// declare the same objects without 406 PRECONDITION_FAILED.
const (
	// queueExpiry is the x-expires of fanout and reply queues, in ms
	// (oslo's rabbit_transient_queues_ttl of 1800 s).
	queueExpiry = 1800000
	// deadlineHeader carries a request's deadline as unix milliseconds.
	deadlineHeader = transport.ReservedHeaderPrefix + "deadline"

	contentType     = "application/json"
	contentEncoding = "utf-8"
)

// exchangeDecl is an exchange a publisher declares before publishing to
// it.
type exchangeDecl struct {
	name, kind string
	autoDelete bool
}

// exchangeOf is the exchange route r publishes to: the control exchange
// (topic, durable false, auto-delete false) or a fanout exchange <topic>_fanout
// (fanout, durable false, auto-delete true).
func exchangeOf(r topology.Route) exchangeDecl {
	if r.Fanout {
		return fanoutExchange(r.Exchange)
	}
	return topicExchange(r.Exchange)
}

// topicExchange is a control exchange: topic, durable false, auto-delete
// false.
func topicExchange(name string) exchangeDecl {
	return exchangeDecl{name: name, kind: amqp.ExchangeTopic}
}

// fanoutExchange is fanout exchange name: fanout, durable false,
// auto-delete true.
func fanoutExchange(name string) exchangeDecl {
	return exchangeDecl{name: name, kind: amqp.ExchangeFanout, autoDelete: true}
}

func (d exchangeDecl) declare(ch *amqp.Channel) error {
	return ch.ExchangeDeclare(d.name, d.kind, false, d.autoDelete, false, false, nil)
}

// declareSharedQueue declares <topic> or <topic>.<server>: durable false,
// auto-delete false, not exclusive, no arguments.
func declareSharedQueue(ch *amqp.Channel, name string) error {
	_, err := ch.QueueDeclare(name, false, false, false, false, nil)
	return err
}

// declareNotificationQueue declares a notification queue, <topic>.<priority>
// or a pool's: durable false, auto-delete false, not exclusive, with args
// (a publisher's limits; nil for listeners). Publishers and listeners
// declare them here only, so that queue presets change both.
func declareNotificationQueue(ch *amqp.Channel, name string, args amqp.Table) error {
	_, err := ch.QueueDeclare(name, false, false, false, false, args)
	return err
}

// declareExpiringQueue declares a fanout or reply queue: durable false,
// auto-delete false, not exclusive, x-expires 30 minutes.
func declareExpiringQueue(ch *amqp.Channel, name string) error {
	_, err := ch.QueueDeclare(name, false, false, false, false, amqp.Table{"x-expires": int32(queueExpiry)})
	return err
}
