// Package transport is the seam between warren's RPC and notification
// layers and the drivers that move messages: the Transport interface for
// RPC, the Notifications interface beside it (oslo's send_notification
// and listen_for_notifications), the plain values they carry (Request,
// Reply, Failure and Notification, from package message), transport URLs,
// configuration from the environment, and the sentinel errors every driver
// returns. A decoding failure anywhere below matches ErrMalformed or
// ErrUnsupportedEnvelope.
//
// A call's deadline is its ctx's deadline and nothing else; a server reads
// it from Incoming.Deadline. Drivers never write into the Request they are
// given.
//
// ParseURL's errors and URL.String never show a password, however
// malformed the URL; ParseBool reads a URL option's boolean as
// oslo.messaging does.
//
// Two drivers implement it: transport/rabbit on RabbitMQ and transport/memory
// in process. Package transport/transporttest holds the conformance suite
// both pass.
//
// # Settings
//
// One convention holds for settings across warren: a zero value (an empty
// name, a nil logger, 0) keeps the default, and a value out of range is an
// error from the constructor (Dial, or New where it can fail), never a
// silent fallback. Where a zero has a meaning of its own, its doc says so.
// The one exception here is Config.URL: a transport is never chosen by
// default, so an empty URL is an error and the memory driver is selected
// only by memory://.
package transport
