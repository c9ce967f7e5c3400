// Package integration holds warren's end-to-end tests: RPC clients and
// servers on the RabbitMQ driver against a real broker, and against real
// Python oslo.messaging peers in both directions. It has no non-test code.
//
// The tests need a RabbitMQ broker at WARREN_TEST_AMQP_URL (default
// amqp://guest:guest@127.0.0.1:5672/) and, for the interoperability tests,
// a Python interpreter with oslo.messaging at WARREN_TEST_PYTHON (default
// /usr/bin/python3). Either missing makes the tests fail, not skip:
// ./scripts/test installs and starts both. TestOsloNewPresetsInterop runs
// its Python peers with the oslo_messaging package in the directory named
// by WARREN_TEST_OSLO_SOURCE (a release with rabbit_stream_fanout and
// use_queue_manager, which Debian 12's 14.0.3 lacks): ./scripts/test
// fills it with Debian 13's python3-oslo.messaging 16.1; go test alone
// skips it.
//
// Every test uses its own exchange and topic, named it-<test>-<8 hex>, and
// deletes what it declared on the broker when it ends. The Python peers
// are the scripts in testdata; they stop when their stdin closes and exit by
// themselves after a bounded time, so no process outlives a test. The tests
// of the command line build cmd/warren once and run it as a subprocess
// against Python peers in both directions.
//
// TestTLS starts a RabbitMQ node of its own (warren-tls-<port>@localhost,
// an AMQP port reserved in 5720-5729, its TLS port 10 above and its
// distribution port 20000 above) from the installed rabbitmq-server, with a TLS
// listener and certificates the test makes, and stops it when it ends. It
// must run as root, since rabbitmq-server runs the node as the rabbitmq
// user.
package integration
