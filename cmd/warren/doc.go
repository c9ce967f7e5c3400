// Command warren is the command-line tool of the warren RPC library.
//
// Usage:
//
//	warren <command> [arguments]
//
// The commands:
//
//	demo     run three calculator replicas and a client, and show call, cast,
//	         fanout cast, a call to one server, a remote error and a timeout
//	call     call a method on a topic and print its JSON result
//	cast     cast a method to a topic, or to all its servers with -fanout
//	bench    measure calls (or casts) per second and their latency through
//	         the whole stack: rpcclient, transport, rpcserver, dispatcher
//	version  print warren's version
//	help     list the commands, or show one command's flags
//
// The transport comes from the environment: WARREN_TRANSPORT_URL (such as
// rabbit://guest:guest@localhost:5672/) and WARREN_CONTROL_EXCHANGE
// ("openstack" by default). The demo and the bench run on the in-process
// memory driver when WARREN_TRANSPORT_URL is unset; call and cast need a
// broker.
//
//	warren demo
//	warren bench -c 16
//	WARREN_TRANSPORT_URL=rabbit://localhost/ warren call calculator divide '{"num1": 200, "num2": 100}'
//	WARREN_TRANSPORT_URL=rabbit://localhost/ warren cast -fanout calculator reset
//	WARREN_TRANSPORT_URL=rabbit://localhost/ warren call calculator warren_rpc_server_info
//
// The last asks a server that has rpcserver.Introspection for its
// namespaces, versions, methods (with argument names), host, pid, start
// time, worker use and request counts.
//
// The exit code is 0 on success, 1 when the command failed (for the demo,
// when a step did not behave as expected; for the bench, when a call
// failed) and 2 for bad arguments.
package main
