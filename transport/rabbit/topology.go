package rabbit

import (
	"errors"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/transport"
)

// Names and flags of everything declared on the broker. With the zero
// Queues they match what oslo.messaging 14 declares with its defaults
// (amqp_durable_queues=False, amqp_auto_delete=False, no quorum queues);
// each field of Queues changes them as the oslo.messaging option of the
// same name does, so Python and Go peers with the same options declare the
// same objects without 406 PRECONDITION_FAILED.
const (
	// DefaultTransientQueuesTTL is the x-expires of fanout and reply
	// queues, oslo's rabbit_transient_queues_ttl of 1800 s.
	DefaultTransientQueuesTTL = 1800 * time.Second
	// deadlineHeader carries a request's deadline as unix milliseconds.
	deadlineHeader = transport.ReservedHeaderPrefix + "deadline"
	// compressionHeader names the compression of a body, as kombu sets
	// it.
	compressionHeader = "compression"

	contentType     = "application/json"
	contentEncoding = "utf-8"
)

// Queues is how the transport declares its exchanges and queues, named
// after oslo.messaging's [oslo_messaging_rabbit] options; a Go peer joins
// Python services that run with some of them by setting the same ones.
// The zero value is oslo.messaging's defaults: every queue transient and
// non-exclusive, the control exchange not durable.
type Queues struct {
	// Durable is amqp_durable_queues: the control exchange and the
	// <topic> and <topic>.<server> queues are durable, and so are the
	// notification queues. Zero keeps them transient.
	Durable bool
	// AutoDelete is amqp_auto_delete: the control exchange and the
	// <topic>, <topic>.<server> and notification queues are auto-delete.
	// Zero keeps them until deleted.
	AutoDelete bool
	// Quorum is rabbit_quorum_queue: the <topic>, <topic>.<server> and
	// notification queues are quorum queues (x-queue-type quorum), and
	// like Durable the control exchange and those queues are durable.
	// Zero declares classic queues.
	Quorum bool
	// QuorumDeliveryLimit is rabbit_quorum_delivery_limit, the
	// x-delivery-limit of quorum queues. Zero leaves it to the broker.
	QuorumDeliveryLimit int
	// QuorumMaxMemoryLength is rabbit_quorum_max_memory_length, the
	// x-max-in-memory-length of quorum queues. Zero sets none.
	QuorumMaxMemoryLength int
	// QuorumMaxMemoryBytes is rabbit_quorum_max_memory_bytes, the
	// x-max-in-memory-bytes of quorum queues. Zero sets none.
	QuorumMaxMemoryBytes int
	// TransientQuorum is rabbit_transient_quorum_queue: fanout and reply
	// queues are quorum queues (durable, x-queue-type quorum, with the
	// quorum limits above and their x-expires), and the <topic>_fanout
	// exchange is durable (still auto-delete). With Quorum, nothing warren
	// declares is a transient non-exclusive queue, which RabbitMQ 4.3
	// refuses by default. Zero keeps them transient classic queues.
	TransientQuorum bool
	// TransientQueuesTTL is rabbit_transient_queues_ttl, the x-expires of
	// fanout and reply queues in whole seconds. Zero means
	// DefaultTransientQueuesTTL; a negative TTL sets no x-expires (oslo's
	// 0).
	TransientQueuesTTL time.Duration
	// StreamFanout is rabbit_stream_fanout: the servers of a topic share
	// one stream queue, <topic>_fanout (durable, x-queue-type stream,
	// x-max-age the TransientQueuesTTL in seconds as a string, "1800s"),
	// in place of a fanout queue each, and each server reads the fanout
	// casts published after it began to listen. The stream is never
	// deleted; x-max-age bounds what it keeps. oslo.messaging requires
	// TransientQuorum and a prefetch with it, and so does Dial. Zero gives
	// each server a fanout queue of its own.
	StreamFanout bool
	// QueueManager is use_queue_manager: the reply queue is named
	// reply_<host>:<process>:<n> and fanout queues
	// <topic>_fanout_<host>:<process>:<n>, the same names on every run of
	// the program, and neither is deleted when closed (they expire after
	// TransientQueuesTTL unused), so a restarted program takes up its
	// queues again instead of making new ones. n counts from 1, per name,
	// the queues the process named so, and skips a name whose queue
	// another consumer holds. Zero names them with random hex.
	QueueManager bool
	// Hostname is hostname, the <host> of QueueManager's names. Zero is
	// os.Hostname().
	Hostname string
	// ProcessName is processname, the <process> of QueueManager's names.
	// Zero is the base name of os.Args[0], as in oslo.messaging.
	ProcessName string
}

// durable reports whether the control exchange and the shared and
// notification queues are durable, as oslo's Connection.durable.
func (q Queues) durable() bool { return q.Durable || q.Quorum }

// sharedArgs are the arguments of the <topic>, <topic>.<server> and
// notification queues: the quorum type and limits, or nil.
func (q Queues) sharedArgs() amqp.Table {
	if !q.Quorum {
		return nil
	}
	return q.quorumArgs()
}

// quorumArgs are the arguments of a quorum queue: its type and the limits
// that are set.
func (q Queues) quorumArgs() amqp.Table {
	args := amqp.Table{"x-queue-type": "quorum"}
	if q.QuorumDeliveryLimit > 0 {
		args["x-delivery-limit"] = int32(q.QuorumDeliveryLimit)
	}
	if q.QuorumMaxMemoryLength > 0 {
		args["x-max-in-memory-length"] = int32(q.QuorumMaxMemoryLength)
	}
	if q.QuorumMaxMemoryBytes > 0 {
		args["x-max-in-memory-bytes"] = int32(q.QuorumMaxMemoryBytes)
	}
	return args
}

// expiringArgs are the arguments of fanout and reply queues: the quorum
// type and limits under TransientQuorum, and x-expires in ms unless there
// is no TTL; nil when there is neither.
func (q Queues) expiringArgs() amqp.Table {
	var args amqp.Table
	if q.TransientQuorum {
		args = q.quorumArgs()
	}
	ttl := q.TransientQueuesTTL
	switch {
	case ttl == 0:
		ttl = DefaultTransientQueuesTTL
	case ttl < 0:
		return args
	}
	if args == nil {
		args = amqp.Table{}
	}
	args["x-expires"] = int32(ttl / time.Millisecond)
	return args
}

// exchangeDecl is an exchange a publisher declares before publishing to
// it.
type exchangeDecl struct {
	name, kind          string
	durable, autoDelete bool
}

// exchangeOf is the exchange route r publishes to: the control exchange
// or a fanout exchange <topic>_fanout.
func (q Queues) exchangeOf(r topology.Route) exchangeDecl {
	if r.Fanout {
		return q.fanoutExchange(r.Exchange)
	}
	return q.topicExchange(r.Exchange)
}

// topicExchange is a control exchange: topic, durable and auto-delete as
// the shared queues.
func (q Queues) topicExchange(name string) exchangeDecl {
	return exchangeDecl{name: name, kind: amqp.ExchangeTopic, durable: q.durable(), autoDelete: q.AutoDelete}
}

// fanoutExchange is fanout exchange name: fanout, auto-delete true,
// durable only under TransientQuorum, as oslo.messaging declares it.
func (q Queues) fanoutExchange(name string) exchangeDecl {
	return exchangeDecl{name: name, kind: amqp.ExchangeFanout, durable: q.TransientQuorum, autoDelete: true}
}

func (d exchangeDecl) declare(ch *amqp.Channel) error {
	return declareError(ch.ExchangeDeclare(d.name, d.kind, d.durable, d.autoDelete, false, false, nil))
}

// declareShared declares <topic> or <topic>.<server>: not exclusive,
// durable, auto-delete and arguments as q says.
func (q Queues) declareShared(ch *amqp.Channel, name string) error {
	_, err := ch.QueueDeclare(name, q.durable(), q.AutoDelete, false, false, q.sharedArgs())
	return declareError(err)
}

// declareNotification declares a notification queue, <topic>.<priority>
// or a pool's, as a shared queue, with extra arguments added (a
// publisher's limits; nil for listeners). Publishers and listeners declare
// them here only, so that queue presets change both.
func (q Queues) declareNotification(ch *amqp.Channel, name string, extra amqp.Table) error {
	args := q.sharedArgs()
	if len(extra) > 0 {
		if args == nil {
			args = amqp.Table{}
		}
		for k, v := range extra {
			args[k] = v
		}
	}
	_, err := ch.QueueDeclare(name, q.durable(), q.AutoDelete, false, false, args)
	return declareError(err)
}

// declareExpiring declares a fanout or reply queue: auto-delete false,
// not exclusive, with the transient queues' x-expires; a durable quorum
// queue under TransientQuorum, else not durable.
func (q Queues) declareExpiring(ch *amqp.Channel, name string) error {
	_, err := ch.QueueDeclare(name, q.TransientQuorum, false, false, false, q.expiringArgs())
	return declareError(err)
}

// presetOfArg names the oslo.messaging options that change each argument
// of a declaration, for the error of a 406 that names the argument.
var presetOfArg = map[string]string{
	"durable":                "amqp_durable_queues or rabbit_quorum_queue",
	"auto_delete":            "amqp_auto_delete",
	"x-queue-type":           "rabbit_quorum_queue",
	"x-delivery-limit":       "rabbit_quorum_delivery_limit",
	"x-max-in-memory-length": "rabbit_quorum_max_memory_length",
	"x-max-in-memory-bytes":  "rabbit_quorum_max_memory_bytes",
	"x-expires":              "rabbit_transient_queues_ttl",
	"x-max-age":              "rabbit_transient_queues_ttl",
}

// declareError explains a refused declaration, for callers that name the
// object: for a 406 PRECONDITION_FAILED, which argument the broker found
// inequivalent and which option makes warren declare the object as it
// exists. It wraps err, so the *amqp.Error stays reachable with errors.As;
// nil stays nil.
func declareError(err error) error {
	var ae *amqp.Error
	if err == nil || !errors.As(err, &ae) || ae.Code != amqp.PreconditionFailed {
		return err
	}
	arg := inequivalentArg(ae.Reason)
	if arg == "" {
		return fmt.Errorf("it exists with other properties; declare it with the options of the services that created it (amqp_durable_queues, amqp_auto_delete, rabbit_quorum_queue, ...): %w", err)
	}
	option := presetOfArg[arg]
	if received, current := brokerValues(ae.Reason); current != "" {
		arg += fmt.Sprintf(" (the broker has %s, warren declared %s)", current, received)
	}
	if option == "" {
		return fmt.Errorf("it exists with another %s, which no queue preset sets (a broker policy, or another program declared it): %w", arg, err)
	}
	return fmt.Errorf("it exists with another %s; set %s as the services that created it do: %w", arg, option, err)
}

// inequivalentArg returns the argument a 406 reason names, as RabbitMQ
// words it ("inequivalent arg 'durable' for queue ..."), or "".
func inequivalentArg(reason string) string {
	_, rest, ok := strings.Cut(reason, "inequivalent arg '")
	if !ok {
		return ""
	}
	arg, _, ok := strings.Cut(rest, "'")
	if !ok {
		return ""
	}
	return arg
}
