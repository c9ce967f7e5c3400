// Package target names where an RPC message goes: the exchange, topic,
// namespace, version and server of oslo.messaging's Target, plus the fanout
// flag. It also parses "X.Y" API versions and applies oslo's compatibility
// rule.
//
// A Target is plain data: copy it, compare it, build it with a struct
// literal. Its zero fields mean "not set"; see each field for what that does.
package target
