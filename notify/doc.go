// Package notify sends and receives oslo.messaging notifications: events
// such as compute.instance.create.end that OpenStack services publish and
// billing, auditing and monitoring services consume.
//
// A Notifier publishes, with one method per oslo priority (Audit, Debug,
// Info, Warn, Error, Critical, Sample), an event type, a payload (any
// value that encodes to JSON) and the request context, to each of its
// topics (default "notifications") through each of its drivers:
// MessagingV2 (the default: oslo's messagingv2 format on the transport,
// routing key <topic>.<priority>, broker confirms), Log (a *slog.Logger)
// and Noop, or your own Driver. A notification fails with an error when
// its ctx ends, or after the notifier's Timeout when ctx has none; it never
// blocks forever on a broker that stopped answering.
//
//	n := notify.NewNotifier(tr, "compute.host1")
//	err := n.Info(ctx, map[string]any{"request_id": "req-1"},
//		"compute.instance.create.end", map[string]any{"id": 42})
//
// Like an oslo.messaging publisher, the messagingv2 driver declares the
// queue <topic>.<priority> so that notifications wait there until a
// listener comes. Such a queue grows forever when nobody listens;
// QueueLimits bounds its length and the age of its messages.
//
// A Listener consumes the notifications of one or more targets and hands
// each to the handlers of its endpoints, by priority, where the endpoint's
// Filter (regular expressions on publisher id, event type, context,
// payload and metadata fields, as oslo's NotificationFilter) selects it.
// Handlers return nil (handled: the notification is acked after the
// handler returns), ErrRequeue, or an error; a failing or panicking
// handler has the notification requeued at most MaxRequeues times, then
// dropped with a log line, and never stops the listener.
//
//	l, err := notify.NewListener(tr, []target.Target{{Topic: "notifications"}},
//		[]notify.Endpoint{{
//			Filter:   notify.Filter{EventType: `compute\.instance\..*`},
//			Handlers: map[notify.Priority]notify.Handler{notify.Info: h},
//		}}, notify.Pool("billing"))
//	go func() { errc <- l.Serve(ctx) }()
//	...
//	err = l.Shutdown(shutdownCtx)
//
// Listeners in the same Pool share notifications, each delivered to one
// of them, and every pool gets every notification. Listeners in no pool
// share the queue <topic>.<priority> that publishers declare, as one more
// pool. Pool queues are named as oslo.messaging names them, so Go
// and Python listeners can share a pool. A batch listener
// (NewBatchListener) hands notifications over in batches of a size or
// after a timeout, whichever comes first.
//
// A listener handles up to Workers notifications at once (64 by default),
// taking one from the transport only when a worker is free; Ordered
// handles one at a time, in queue order. Its lifecycle follows the RPC
// server's: Listen declares the queues, Serve blocks while it runs, the
// end of Serve's ctx (from a signal) and Shutdown stop taking
// notifications and let the handlers finish (the former for GracePeriod),
// Close stops at once and the broker requeues what was not acked.
//
// Interceptors (Intercept) wrap each dispatch, as the RPC server's do:
// logging, metrics and a tracing span per notification belong there. On
// the sending side, a Driver that wraps MessagingV2 does the same.
package notify
