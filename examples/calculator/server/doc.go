// Command server runs one calculator server (package calc): it serves the
// topic "calculator" as the server named by -server, the host name by
// default, until SIGINT or SIGTERM, then shuts down gracefully.
//
// It reaches the broker in WARREN_TRANSPORT_URL, with the control exchange
// in WARREN_CONTROL_EXCHANGE ("openstack" by default):
//
//	WARREN_TRANSPORT_URL=rabbit://guest:guest@localhost:5672/ go run ./examples/calculator/server -server calc-1
//
// Start several, with different names, and they share the calls round
// robin; examples/calculator/client calls them. Without
// WARREN_TRANSPORT_URL it serves on the in-process memory driver, which no
// other process can reach.
//
// Each request handled is logged on standard error.
package main
