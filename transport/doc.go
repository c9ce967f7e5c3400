// Package transport is the seam between warren's RPC and notification
// layers and the drivers that move messages: the Transport interface for
// RPC, the Notifications interface beside it (oslo's send_notification
// and listen_for_notifications), the plain values they carry (Request,
// Reply, Failure and Notification, from package message), transport URLs,
// configuration from the environment, and the sentinel errors every driver
// returns.
//
// Two drivers implement it: transport/rabbit on RabbitMQ and transport/memory
// in process. Package transport/transporttest holds the conformance suite
// both pass.
package transport
