// Package replywait routes reply messages to the calls waiting for them, by
// _msg_id, and applies oslo.messaging's reply rules: a failure or an ending
// message completes a call, a non-ending message with a result is the first
// half of a legacy two-message reply, and one with neither is a call-monitor
// heartbeat. Every driver uses it, so calls behave the same on all of them.
package replywait
