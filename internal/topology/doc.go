// Package topology names what the drivers declare and where they publish:
// oslo.messaging's exchanges, queues and routing keys for a target. It is
// the one place these names are built, so the RabbitMQ and in-memory
// drivers cannot drift apart.
//
// For RPC (oslo.messaging 14 with its defaults):
//
//	control exchange (Target.Exchange, else the driver's default)  topic exchange
//	<topic>                   queue shared by a topic's servers, bound with key <topic>
//	<topic>.<server>          queue of one server, bound with key <topic>.<server>
//	<topic>_fanout            fanout exchange of a topic
//	<topic>_fanout_<32 hex>   one queue per listening server, bound to <topic>_fanout with key <topic>
//	reply_<32 hex>            one reply queue per transport
//
// For notifications:
//
//	<topic>.<priority>        routing key of a notification on the control exchange, and the
//	                          queue publishers declare and the listeners in no pool share
//	<pool>                    the queue of a pool of listeners, bound with every <topic>.<priority>
//
// Queue presets belong here too when they come: each kind of queue is a
// function from what names it (a target, a priority, a pool) to its name.
package topology
