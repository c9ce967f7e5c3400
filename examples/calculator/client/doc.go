// Command client calls the calculator service (package calc) and checks
// the answers: divide(num1=200, num2=100) is 2, divide(num1=1, num2=0)
// fails with the remote exception InvalidOperation "invalid operation", and
// add(a=2, b=3) is 5. It exits 0 when every answer was as expected and 1
// otherwise.
//
// It reaches the calculator servers through the broker in
// WARREN_TRANSPORT_URL (see examples/calculator/server):
//
//	WARREN_TRANSPORT_URL=rabbit://guest:guest@localhost:5672/ go run ./examples/calculator/client
//
// Without WARREN_TRANSPORT_URL it uses the in-process memory driver and
// starts a calculator server in its own process first, so it runs
// anywhere:
//
//	go run ./examples/calculator/client
//
// The -timeout flag bounds connecting and each call (10s by default).
package main
