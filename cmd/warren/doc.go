// Command warren is the command-line tool of the warren RPC library: it
// calls, casts, serves, pings, sends and prints notifications on a
// RabbitMQ bus shared with Go and Python oslo.messaging services.
//
// Usage:
//
//	warren <command> [arguments]
//
// The commands:
//
//	call     call a method on a topic and print its JSON result
//	cast     cast a method to a topic, or to all its servers with --fanout
//	serve    serve a topic with built-in methods until SIGINT or SIGTERM
//	ping     check that a server of a topic answers (oslo_rpc_server_ping),
//	         as a liveness or readiness probe
//	notify   send a notification
//	listen   print notifications as JSON lines
//	demo     run three calculator replicas and a client, and show call, cast,
//	         fanout cast, a call to one server, a remote error and a timeout
//	bench    measure calls (or casts) per second and their latency through
//	         the whole stack: rpcclient, transport, rpcserver, dispatcher
//	version  print warren's version
//	help     list the commands, or show one command's flags
//
// call, cast, serve, ping, notify and listen take --url (default
// $WARREN_TRANSPORT_URL, else amqp://guest:guest@127.0.0.1:5672/) and
// --exchange (default $WARREN_CONTROL_EXCHANGE, else openstack); flags may
// come before or after the arguments. demo takes them too, and runs on the
// in-process memory driver when no URL is given; bench reads
// WARREN_TRANSPORT_URL, and uses that driver when it is unset. Every
// command takes --help.
//
//	warren serve --topic calculator --server calc-1
//	warren call --topic calculator divide '{"num1": 200, "num2": 100}'
//	warren call --topic calculator --ctx user_id=u1 --ctx 'roles:=["admin"]' echo '{"data": 1}'
//	warren cast --topic calculator --fanout add '{"a": 1, "b": 2}'
//	warren ping --topic compute --server "$HOSTNAME" --timeout 5s
//	warren notify --event-type compute.instance.create.end '{"id": 42}'
//	warren listen --pool audit --priority info,error --count 10
//	warren call --topic calculator warren_rpc_server_info
//
// The last asks a server that has rpcserver.Introspection, as warren serve
// does, for its namespaces, versions, methods (with argument names), host,
// pid, start time, worker use and request counts.
//
// The exit code tells scripts what happened: 0 success; 1 the remote
// method failed (stderr: "remote error: <module>.<class>: <message>" and
// the remote traceback); 2 bad command line or input (one line on stderr);
// 3 timeout; 4 nobody serves the target (no queue takes the message) or
// the broker cannot be reached. With --json, call, cast and ping report a
// failure on stderr as one JSON object with the exit code and, for a remote
// failure, the exception. demo exits 1 when a step did not behave as
// expected, bench when a call failed.
package main
