package topology

import (
	"strconv"

	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/target"
)

// Route is where a request is published: an exchange and a routing key.
type Route struct {
	// Exchange is the exchange name: a topic exchange (the control
	// exchange) or, when Fanout is set, a fanout exchange.
	Exchange string
	// Key is the routing key; a fanout exchange ignores it and
	// oslo.messaging sends it empty.
	Key string
	// Fanout is true when Exchange is a fanout exchange.
	Fanout bool
}

// ControlExchange returns the topic exchange of tgt: tgt.Exchange, or
// def when tgt names none.
func ControlExchange(tgt target.Target, def string) string {
	if tgt.Exchange != "" {
		return tgt.Exchange
	}
	return def
}

// RouteOf returns where a call or cast to tgt goes, with def as the
// control exchange of targets that name none: the fanout exchange of the
// topic with an empty key for a fanout target, else the control exchange
// with key <topic> or <topic>.<server>.
func RouteOf(tgt target.Target, def string) Route {
	if tgt.Fanout {
		return Route{Exchange: FanoutExchange(tgt.Topic), Fanout: true}
	}
	key := TopicQueue(tgt.Topic)
	if tgt.Server != "" {
		key = ServerQueue(tgt.Topic, tgt.Server)
	}
	return Route{Exchange: ControlExchange(tgt, def), Key: key}
}

// TopicQueue returns the queue the servers of topic share, <topic>. It is
// also its binding key on the control exchange.
func TopicQueue(topic string) string { return topic }

// ServerQueue returns the queue of one server of topic,
// <topic>.<server>. It is also its binding key on the control exchange.
func ServerQueue(topic, server string) string { return topic + "." + server }

// FanoutExchange returns the fanout exchange of topic, <topic>_fanout. It
// is not scoped by the control exchange.
func FanoutExchange(topic string) string { return topic + "_fanout" }

// FanoutQueue returns a new name for one server's queue on the fanout
// exchange of topic: <topic>_fanout_<32 hex>.
func FanoutQueue(topic string) string { return FanoutExchange(topic) + "_" + wire.NewID() }

// StreamFanoutQueue returns the stream queue the servers of topic share
// under oslo.messaging's rabbit_stream_fanout: <topic>_fanout, named as
// the fanout exchange it is bound to.
func StreamFanoutQueue(topic string) string { return FanoutExchange(topic) }

// ManagedID returns the part of a queue name that oslo.messaging's
// use_queue_manager makes stable across restarts: <host>:<process>:<n>.
func ManagedID(host, process string, n int) string {
	return host + ":" + process + ":" + strconv.Itoa(n)
}

// ManagedFanoutQueue returns a fanout queue of topic named by
// use_queue_manager: <topic>_fanout_<id>, id from ManagedID.
func ManagedFanoutQueue(topic, id string) string { return FanoutExchange(topic) + "_" + id }

// ManagedReplyQueue returns a reply queue named by use_queue_manager:
// reply_<id>, id from ManagedID.
func ManagedReplyQueue(id string) string { return "reply_" + id }

// FanoutBindingKey returns the key a fanout queue of topic is bound with,
// <topic>, as oslo.messaging binds it (the exchange ignores it).
func FanoutBindingKey(topic string) string { return topic }

// ReplyQueue returns a new name for a transport's reply queue:
// reply_<32 hex>.
func ReplyQueue() string { return "reply_" + wire.NewID() }

// Server is what one RPC server consumes: two queues bound to the control
// exchange and one queue of its own bound to the topic's fanout exchange.
type Server struct {
	// ControlExchange is the topic exchange the server's queues are bound
	// to.
	ControlExchange string
	// ServerQueue is <topic>.<server>, bound with its own name.
	ServerQueue string
	// TopicQueue is <topic>, bound with its own name.
	TopicQueue string
	// FanoutExchange is <topic>_fanout.
	FanoutExchange string
	// FanoutQueue is a new <topic>_fanout_<32 hex>, bound to
	// FanoutExchange with FanoutKey.
	FanoutQueue string
	// FanoutKey is the binding key of FanoutQueue, <topic>.
	FanoutKey string
}

// ServerOf returns what server tgt consumes, with def as the control
// exchange when tgt names none. tgt must name a topic and a server; each
// call names a new fanout queue.
func ServerOf(tgt target.Target, def string) Server {
	return Server{
		ControlExchange: ControlExchange(tgt, def),
		ServerQueue:     ServerQueue(tgt.Topic, tgt.Server),
		TopicQueue:      TopicQueue(tgt.Topic),
		FanoutExchange:  FanoutExchange(tgt.Topic),
		FanoutQueue:     FanoutQueue(tgt.Topic),
		FanoutKey:       FanoutBindingKey(tgt.Topic),
	}
}

// NotificationKey returns the routing key of notifications of priority
// (lower case) on topic, <topic>.<priority>, as oslo.messaging's
// messagingv2 driver sends them to the control exchange.
func NotificationKey(topic, priority string) string { return topic + "." + priority }

// NotificationQueue returns the queue that consumes the notifications of
// priority on topic: pool when set, shared by the listeners of the pool
// and bound with the key of every (topic, priority) they listen to; else
// <topic>.<priority>, bound with its own name, which publishers declare
// too and the listeners in no pool share.
func NotificationQueue(topic, priority, pool string) string {
	if pool != "" {
		return pool
	}
	return NotificationKey(topic, priority)
}
