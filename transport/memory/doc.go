// Package memory is an in-process warren transport with the semantics of
// the RabbitMQ driver, for tests and for programs that run client and
// servers in one process.
//
// Transports that share a Bus (see OnBus) reach each other as processes
// sharing a broker do. The Bus models the RabbitMQ topology oslo.messaging
// uses:
//
//   - a topic exchange per target exchange (the transport's control exchange
//     when the target names none), where routing key <topic> reaches the
//     shared queue <topic> and routing key <topic>.<server> reaches the queue
//     of one server;
//   - a fanout exchange <topic>_fanout with one queue per listener;
//   - one reply queue reply_<hex> per transport;
//   - notification queues <topic>.<priority> and pool queues, bound to the
//     topic exchange as the RabbitMQ driver binds them.
//
// Requests and replies cross the Bus encoded with the oslo.messaging 2.0
// wire format, exactly as they would cross a broker, so what cannot be sent
// to a Python peer fails here too. A call's deadline (its ctx's, to the
// millisecond) and a request's application headers travel beside its body,
// as the RabbitMQ driver carries them in message headers; casts carry no
// deadline.
//
// Semantics shared with the RabbitMQ driver:
//
//   - A message that no queue can take fails at once with a
//     *transport.NoRouteError (the RabbitMQ driver publishes with mandatory).
//     Queues <topic> and <topic>.<server> live on after their listeners stop,
//     as broker queues that are not auto-delete do: messages sent to them
//     wait for the next listener. A listener's fanout queue is deleted when it stops.
//   - Servers of a topic compete for its queue. A listener joins the
//     queue's rotation when it is created, and each message goes at once to
//     the next listener in turn (round robin), whether or not it is waiting
//     in Next, as RabbitMQ pushes messages to consumers. A message counts as
//     delivered only when Next returns it: when a listener stops, the
//     messages pushed to it that Next has not returned go back to their
//     queue, for the other listeners.
//   - A request whose deadline has passed is dropped by its queue instead of
//     being handed out, as RabbitMQ drops a message whose expiration passed.
//   - A message that is not a valid request, reply or notification, and a
//     request whose _unique_id its listener handed out already, are dropped
//     and reported to OnDrop, as the RabbitMQ driver reports them.
//   - Requests and replies larger than MaxMessageSize (default
//     transport.DefaultMaxMessageSize) fail with
//     transport.ErrMessageTooLarge. A send whose ctx has already ended
//     fails with ctx's error and queues nothing. A reply whose caller's
//     transport has closed is dropped, and Reply returns nil.
//   - Each queue holds at most QueueCapacity messages, counting those pushed
//     to listeners that Next has not returned yet. A send to a full queue
//     blocks until there is room, its ctx ends or its transport closes, as a
//     broker's flow control blocks publishers.
//
// With AtLeastOnce, casts are handed out as transport.Settlers, as the
// RabbitMQ driver's AtLeastOnce does: a cast stays in the listener's hands
// until settled, goes back to its queue when its handling failed or its
// listener closed first, and is dropped with
// transport.DropDeliveryLimit once it has been handed out as many times
// as the limit; a cast whose _unique_id was handled already is dropped as
// a duplicate.
//
// Notifications stay in their listener's hands until Ack or Requeue;
// closing the listener requeues the rest, counting one more delivery. A
// notification queue with a length limit drops its oldest message to make
// room instead of blocking, and one with a TTL drops expired ones.
//
// Options follow warren's convention (see package transport): a zero
// argument keeps the default, so ControlExchange("") is "openstack" and
// OnBus(nil) gives the transport a Bus of its own, as in the RabbitMQ
// driver. No memory option can be out of range, so New cannot fail.
// warren.Dial opens this driver only for the URL memory://, and passes it
// options given with warren.Memory.
//
// The package starts no goroutines: messages move in the goroutines that
// send and receive them.
package memory
