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
//	bench    measure calls (or casts) of echo per second and their latency:
//	         whatever serves a topic (warren serve, a Python echo), or
//	         replicas in this process through the whole stack
//	version  print warren's version
//	help     list the commands, or show one command's flags
//
// call, cast, serve, ping, notify, listen and bench take --url (default
// $WARREN_TRANSPORT_URL, else amqp://guest:guest@127.0.0.1:5672/) and
// --exchange (default $WARREN_CONTROL_EXCHANGE, else openstack); flags may
// come before or after the arguments. demo, and bench with replicas in this
// process, take them too, and run on the in-process memory driver when no
// URL is given. Every command takes --help.
//
//	warren serve --topic calculator --server calc-1
//	warren call --topic calculator divide '{"num1": 200, "num2": 100}'
//	warren call --topic calculator --ctx user_id=u1 --ctx 'roles:=["admin"]' echo '{"data": 1}'
//	warren cast --topic calculator --fanout add '{"a": 1, "b": 2}'
//	warren ping --topic compute --server "$HOSTNAME" --timeout 5s
//	warren notify --event-type compute.instance.create.end '{"id": 42}'
//	warren listen --pool audit --priority info,error --count 10
//	warren call --topic calculator warren_rpc_server_info
//	warren bench --topic calculator --concurrency 16 --duration 30s --json
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
// expected. bench never stops on a failed call: it counts failures by kind
// (timeout, no_route, remote, connection, other) and exits 0 once it
// measured; with --json it prints one object (calls, ok, errors, per_sec,
// p50_ms, p99_ms, p999_ms, max_ms, ...).
package main
