// Package wire encodes and decodes oslo.messaging's 2.0 message format, the
// bodies every driver puts on the bus.
//
// A body is the envelope {"oslo.version": "2.0", "oslo.message": "<json>"},
// whose message is itself a JSON document serialized to a string. Requests
// carry method, args, optional namespace and version, _unique_id, the request
// context flattened as _context_<key>, and for calls _msg_id, _reply_q and
// _timeout. Replies carry result, failure (a JSON string), ending, _msg_id and
// _unique_id; a reply with ending false and neither result nor failure is a
// call-monitor heartbeat.
//
// The envelope doubles the JSON work of every message, so the codec does
// not leave it all to encoding/json: a body is quoted into its envelope in
// one pass, its envelope string read back in one pass, the message checked
// once (valid) and walked member by member. These helpers produce exactly
// what encoding/json produces, which differential fuzz targets check
// (json_test.go), and leave unusual input (invalid UTF-8, lone surrogate
// escapes) to encoding/json. Messages are built in pooled buffers.
//
// Decoders accept the 2.0 envelope and bare version 1.0 dictionaries, and
// reject other envelope versions. They never panic on any input; their
// errors match ErrMalformed or ErrUnsupportedEnvelope, which package
// transport exports as the same values (as io/fs exports internal/oserror's),
// so users match them without importing this package.
package wire
