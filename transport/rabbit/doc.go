// Package rabbit is warren's RabbitMQ driver: a transport.Transport on
// github.com/rabbitmq/amqp091-go that speaks oslo.messaging's wire format
// and declares oslo.messaging's topology, so Go and Python oslo.messaging
// services share a bus in both directions.
//
//	tr, err := rabbit.Dial(ctx, "rabbit://guest:guest@localhost:5672/")
//
// # Options
//
// Options follow warren's convention: an option given the zero value of its
// argument (an empty name, a nil logger, 0) keeps the default, and a value
// out of range is an error from Dial, never a silent fallback.
// ControlExchange("") is "openstack" here as in transport/memory, and
// MaxMessageSize(0) is DefaultMaxMessageSize. Two options keep the meaning
// oslo.messaging gives their zero, because it is a setting users need and
// the transport URL spells it that way: Prefetch(0) (prefetch=0) is no
// limit, and Heartbeat(0) (heartbeat=0) takes the broker's interval. The
// URL's query options win over options given in code.
//
// # Connections
//
// A transport opens two connections to one host of the URL: one
// publishes, one consumes, so that the broker's flow control on
// publishers never stalls consumers. Each carries the client property
// connection_name "<program>:<pid>:<uuid>" and a 10 s heartbeat (see
// DefaultHeartbeat). The TCP connections have keepalive on; once the AMQP
// handshake is done, a read that sees nothing for two heartbeat intervals
// and a write blocked that long fail, so a network that freezes without
// closing is noticed within two heartbeats (amqp091 alone allows three,
// and has no write deadline).
//
// # Reconnection
//
// The transport has one reconnection owner: a supervisor goroutine of its
// own. amqp091's built-in recovery is not enabled: it redials the same URL
// only, gives up after about 25 s, and knows nothing of warren's reply
// queue, listeners or waiting calls, so it could neither fail over across
// the hosts of a multi-host URL nor keep calls waiting; using both would
// make two owners race for the same channels.
//
// When either connection drops, the supervisor closes the other (so the
// broker requeues what listeners held and did not hand out), reports
// StateConnecting, and dials again: hosts in the failover order
// (RoundRobin, oslo.messaging's default, or Shuffle; see Failover), with
// exponential backoff and jitter between failed attempts (100 ms doubling
// up to 1 s by default; see Reconnect), until it connects, Close is
// called, or the Backoff's Attempts run out (then StateFailed, and every
// operation fails with an error matching transport.ErrConnectionLost).
// Dial retries the same way within its ctx, so a program started before
// its broker waits for it.
//
// After a reconnect, what the transport consumes is declared again, with
// the same names: each listener's exchanges, queues, bindings and
// consumers, and the reply queue, so replies published meanwhile to a
// queue that survived are delivered. The same happens at once when the
// broker cancels a consumer because its queue was deleted, and with
// backoff while a cluster refuses to declare the queues of a node it lost.
// A consumer that loses its queue with a cluster node hears it from the
// broker (basic.cancel) and declares and consumes again, except when it
// declared the queue through a survivor while the lost node was still
// shutting down: the queue then vanishes with the node without a word.
// For that, each consumer declares its queues passively every half second
// for 30 s after it (re)opened, then at doubling intervals up to a
// minute, and declares and consumes again when one is gone. A listener's Next keeps waiting across
// all of it. Deliveries of a
// channel that closed are never acked on another channel.
//
// Calls and casts wait for the connection within their ctx while it is
// down. A cast that the dropped connection left unconfirmed is published
// again on the next one, with the same _unique_id. A call is published
// without a confirm (its reply is one): a call already written keeps
// waiting and completes if its reply arrives, or ends at its deadline
// when the message was lost with the connection; no call outlives its
// ctx. An error from Cast tells what is known of the
// message: transport.ErrNotSent (it never reached the broker) or
// transport.ErrOutcomeUnknown (it reached the broker unconfirmed and may
// be delivered).
//
// While the broker blocks publishing (connection.blocked, a memory or disk
// alarm), publishes wait within their ctx and then fail with a
// *transport.BlockedError naming the broker's reason; StateBlocked
// reports it. State, Ready, Err and OnStateChange show the connection's
// state, and the transport logs each transition.
//
// # TLS
//
// A URL with scheme amqps or the query option ssl=true connects with TLS
// 1.2 or later. The broker's certificate must chain to the system's roots,
// or to the PEM roots of ssl_ca_file, and must name the host dialed, as
// the URL writes it (ssl_enforce_hostname_verification=false checks the
// chain only, and logs a warning). ssl_cert_file and ssl_key_file give a
// client certificate and its key in PEM (the key may be in the certificate
// file); ssl_version TLSv1_2 pins TLS 1.2, SSLv23 negotiates, older
// versions are refused; ssl_enforce_fips_mode=true needs Go's FIPS 140-3
// mode (GODEBUG=fips140=on). The option TLSConfig gives a *tls.Config of
// the caller's, whose fields the URL's options override. TLS settings on a
// URL that asks for no TLS are an error. Dial reads the files at once and
// names them, never their content, in its errors.
//
// Credentials travel only in the AMQP handshake (SASL PLAIN); the URI
// given to amqp091 carries none, and errors and log lines show URLs with
// their passwords masked.
//
// # Topology
//
// Names and flags are those of oslo.messaging 14 with its defaults (the
// zero Queues):
//
//	control exchange (default "openstack")  topic, durable false, auto-delete false
//	<topic>, <topic>.<server>               queues, durable false, auto-delete false, no arguments,
//	                                        bound to the control exchange with their names
//	<topic>_fanout                          fanout exchange, durable false, auto-delete true
//	<topic>_fanout_<32 hex>                 one queue per listener, x-expires 1800000,
//	                                        bound to <topic>_fanout with key <topic>
//	reply_<32 hex>                          one queue per transport, declared on the first call,
//	                                        durable false, auto-delete false, x-expires 1800000
//	<topic>.<priority>                      notification queue, durable false, auto-delete false,
//	                                        bound to the control exchange with its name; declared
//	                                        by publishers (with x-max-length and x-message-ttl
//	                                        when given) and pool-less listeners
//	<pool>                                  a notification pool's queue, durable false, bound
//	                                        with every <topic>.<priority> its listeners consume
//
// QueuePreset, or the same options in the URL query, changes the flags
// as oslo.messaging's options of the same names do: amqp_durable_queues
// (Queues.Durable) makes the control exchange and the <topic>,
// <topic>.<server> and notification queues durable; amqp_auto_delete
// makes them auto-delete; rabbit_quorum_queue makes those queues quorum
// queues (durable, x-queue-type quorum, with x-delivery-limit,
// x-max-in-memory-length and x-max-in-memory-bytes when set);
// rabbit_transient_quorum_queue makes the fanout and reply queues quorum
// queues too, and the fanout exchange durable, so that with both no queue
// is transient and non-exclusive (RabbitMQ 4.3 refuses those); and
// rabbit_transient_queues_ttl sets the x-expires of fanout and reply
// queues. A declaration the broker refuses with 406 PRECONDITION_FAILED
// fails with an error naming the object, the argument the broker found
// inequivalent and the option that changes it.
//
// rabbit_stream_fanout (Queues.StreamFanout) replaces the fanout queues
// of a topic with one stream queue, <topic>_fanout, durable, with
// arguments x-queue-type stream and x-max-age "1800s" (the
// rabbit_transient_queues_ttl in seconds; none for 0), bound to the
// <topic>_fanout exchange with key <topic>, as oslo.messaging declares
// it (a stream that exists already is consumed as it is, like <topic>);
// like oslo.messaging, Dial refuses it without
// rabbit_transient_quorum_queue and a prefetch. Each listener consumes
// the stream with x-stream-offset "next", so a server does not run the
// fanout casts sent before it listened (oslo.messaging starts at "last",
// the stream's last chunk, and does), and after a lost connection from
// the offset after the last delivery it received, so it misses none sent
// meanwhile that the stream still holds (one that received none yet
// starts at "next" again: AMQP 0.9.1 does not tell a consumer where
// "next" was); when the broker ends the consumer
// on a live connection (the stream was deleted) it starts at "next" again.
// Duplicate detection by _unique_id covers what is left. A delivery of
// the stream that is not a valid request is acked and dropped, not
// rejected: RabbitMQ closes the connection on a basic.reject on a stream.
// The stream is never deleted by warren; with it, a fanout cast to a topic
// whose servers are all gone is stored, not refused as no route.
//
// use_queue_manager (Queues.QueueManager) names the reply queue
// reply_<host>:<process>:<n> and fanout queues
// <topic>_fanout_<host>:<process>:<n>, host and process from the hostname
// and processname options (Queues.Hostname, Queues.ProcessName; by default
// the host's name and the base name of os.Args[0], as in oslo.messaging),
// so that a program restarted takes up its queues again instead of making
// new ones (and the fanout casts sent while it was down, within
// x-expires). n counts from 1 per name in the process (oslo.messaging
// keeps one counter per host and process name in /dev/shm, shared by a
// process group); a name whose queue another consumer holds, another
// process with the same host and process name, is skipped with a
// warning, since two consumers would split its messages.
//
// Publishers declare the exchange they publish to (the control exchange
// once per channel, fanout exchanges before each publish since they
// disappear with their last queue). Listener.Close deletes the listener's
// fanout queue, as oslo.messaging does; Transport.Close also deletes the
// reply queue, which oslo.messaging leaves to expire. Under
// use_queue_manager both stay, to expire unused, as in oslo.messaging.
//
// # Messages
//
// With Compression("gzip") (kombu_compression=gzip) bodies are sent as
// kombu's gzip, a zlib stream with header compression
// application/x-gzip; received bodies with that header, or bz2's, are
// uncompressed whatever the setting. A listener drops a request whose
// _unique_id it handed out already, as oslo.messaging does, and reports it
// to OnDrop.
//
// Bodies are oslo.messaging 2.0 envelopes (package internal/wire), with
// content_type application/json, content_encoding utf-8 and delivery_mode
// 2. Casts and notifications also carry a message_id unique per publish,
// which matches a basic.return to its confirm; calls carry their _msg_id
// as correlation_id instead, and replies neither (oslo.messaging sends
// neither property on any message). Calls carry expiration = the time
// left before the ctx deadline in ms, as oslo.messaging sends its timeout,
// and the header x-warren-deadline = that deadline in unix ms (int64),
// which oslo.messaging peers ignore. A listener takes a request's deadline
// (Incoming.Deadline) from that header, read with its own clock (keep
// hosts' clocks synchronized), or else from the time of receipt plus the
// expiration. A cast carries neither, as in oslo.messaging: its ctx bounds
// the wait for the broker's confirm, not the cast. Fanout casts use an
// empty routing key, as oslo.messaging sends them.
//
// A request's application headers (message.Request.Headers) are sent as
// AMQP headers with string values; a listener hands back those with string
// values, without warren's own x-warren- headers. The caller's
// message.Request is never written: each send is a copy with its own ids.
//
// Calls and casts are published mandatory: a message no queue takes
// fails at once with a *transport.NoRouteError instead of timing out
// (oslo.messaging publishes them non-mandatory and loses them). Casts and
// notifications are published with publisher confirms, tracked
// asynchronously on a pool of four channels; each publisher waits for its
// own confirm only. Calls go through a second pool of four channels
// without confirms, since the reply confirms a call: they carry their
// _msg_id as correlation_id, by which a basic.return finds the call to
// fail. Replies and heartbeats go without confirms too. Each channel has
// a writer goroutine that writes what its publishers hand it, in order;
// a publisher waits for it within its ctx, so a broker that stops reading
// never holds a call or a cast past its ctx. A writer with several
// publishes waiting writes them in one socket write (amqp091 alone
// writes each message with a system call of its own). Replies go to
// the default exchange with the reply queue as routing key, mandatory; a
// reply whose queue is gone is dropped with a log line, without
// oslo.messaging's 60 s retry loop.
//
// # Calls to stopped servers
//
// A server that stops leaves its <topic>.<server> queue behind (the last
// server of a topic, its <topic> queue), so the broker still routes calls
// to it and "no route" never fires. A transport therefore reads the
// consumer count of each queue it calls (a passive declare on a channel
// of its own, so that a queue that does not exist closes nothing anybody
// else uses) about once a second while calls to it are in flight and
// 10 s beyond (at most 128 reads a second, over at most 1024 queues),
// off the call path: a call only looks its queue up. Once a
// queue has had no consumer at two reads NoConsumerGrace apart (default
// 10 s), the calls waiting for it fail with a *transport.NoConsumerError
// matching transport.ErrNoConsumer, transport.ErrNoRoute and
// transport.ErrOutcomeUnknown (the request stays queued until its
// expiration, and a server that comes back in time runs it), and calls
// made afterwards fail before they are published, matching
// transport.ErrNotSent, until a read finds a consumer again. A server
// that reconnects after a broker restart or a failover has no consumer
// for a moment: the grace outlasts that, and reads made before the
// transport's own reconnect do not count. The check covers any server,
// Go or Python, that consumes oslo.messaging's queue names. It does not
// cover casts and notifications (a queue keeps them for a server that
// comes back, as oslo.messaging expects), fanout (a fanout queue goes
// with its server, so no route fires at once), a server that hangs while
// its connection and consumer stay up, or a host that vanished until the
// broker's heartbeat drops its connection (oslo.messaging servers
// negotiate 60 s). NoConsumerGrace(-1) turns it off.
//
// # Consuming
//
// The reply queue is consumed with automatic acks, as RabbitMQ's Direct
// Reply-to is, which saves an ack per call: a reply on its way to the
// client when the connection drops is lost with it (its call then ends
// at its deadline), while replies still queued wait for the consumer's
// return. Replies that are not valid are dropped and logged.
//
// A listener consumes its three queues on one channel with manual acks and
// basic.qos(Prefetch) per consumer (default 64; oslo.messaging's default
// is unlimited). Next acks each request as it hands it out, at-most-once
// as in oslo.messaging, several at a time: one basic.ack multiple=true
// acks what was handed out within the last 2 ms (at most 32), and what
// is pending is acked before the channel closes (in at-least-once mode,
// see AtLeastOnce, each delivery is settled on its own instead). Messages
// larger than MaxMessageSize or that are not valid requests are rejected
// without requeue (acked when read from a stream, dead-lettered in
// at-least-once mode), logged once per sender and reported to OnDrop (as
// are invalid replies and notifications); when such a
// message still shows a _msg_id and a _reply_q, its caller gets a
// builtins.ValueError failure saying why. A reply that cannot be decoded
// but shows its _msg_id fails that call with an error matching
// transport.ErrMalformed (or transport.ErrUnsupportedEnvelope), rather
// than letting it time out. Stop closes the channel (in at-least-once
// mode it cancels the consumers and keeps the channel until Close, so that
// casts still running can be settled), so that requests delivered but not
// handed out go back to the broker for other servers.
//
// A notification listener consumes its queues the same way, with the same
// machinery, but leaves acks to its user (Ack, or Requeue: basic.reject
// with requeue). Its Stop cancels the consumers and keeps the channel open
// so that what was handed out can still be acked; Close closes the channel
// and the broker requeues what was not. A listener uses a notification
// queue that already exists as it is (a passive declare first), so a
// publisher's limits or a Python peer's flags never make it fail.
// Deliveries counts the x-delivery-count of quorum queues, or else the
// requeues made through the same transport.
//
// # At-least-once casts
//
// With the AtLeastOnce option (URL query at_least_once=true), on durable
// or quorum queues, an RPC listener hands out casts unacked, as
// transport.Settlers, and acks each once its handler returned: a cast the
// broker confirmed is then handled even if its server is killed while
// handling it or the broker restarts. A cast whose handling failed is
// requeued up to the delivery limit, then published to the dead-letter
// exchange <control exchange>.dlx and its queue <control exchange>.dlq,
// where messages that are not valid requests go too. A cast's _unique_id
// is remembered once it was handled, not on receipt, so a redelivery of a
// handled cast is dropped and one of a cast whose handling never ended
// runs. Its Stop cancels the consumers and keeps the channel open, as a
// notification listener's does, so that the casts being handled can
// still be acked. Calls stay at-most-once. See AtLeastOnce.
package rabbit
