// Package driver holds what every transport driver does the same way with
// an RPC request, so that the RabbitMQ and in-memory drivers cannot drift:
//
//   - the copy of a caller's request that a driver sends (the caller's
//     value is never written), with its ids filled and its application
//     headers checked;
//   - a call's deadline, taken from its ctx alone, to the millisecond;
//   - Incoming, the received request whose Reply and Heartbeat encode,
//     check and guard the answer, leaving the driver only to publish bytes
//     to a reply address.
package driver
