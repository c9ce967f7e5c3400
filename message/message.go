package message

import (
	"encoding/json"
	"time"
)

// Request is one RPC request, a call or a cast, as plain data.
type Request struct {
	// Method is the endpoint method to run. Required.
	Method string
	// Args holds the keyword arguments as a JSON object. Nil sends {}.
	Args json.RawMessage
	// Namespace selects endpoints; zero sends none.
	Namespace string
	// EmptyNamespace, with Namespace "", names the empty namespace
	// ("namespace": "" on the wire) rather than none. oslo.messaging tells
	// the two apart: the empty namespace matches no endpoint of the
	// default one. It has no effect when Namespace is set.
	EmptyNamespace bool
	// Version is the requested API version; zero sends none.
	Version string
	// Context is the request context, sent as _context_<key> entries.
	// Nil sends none.
	Context map[string]any
	// CallMonitor, on a call, asks the server to send heartbeats every
	// half of it while the method runs (oslo's call_monitor_timeout, sent
	// as _timeout). Zero asks for none.
	CallMonitor time.Duration
	// Headers are application headers for Go peers, such as tracing's
	// traceparent, tracestate and baggage. The RabbitMQ driver sends them
	// as AMQP headers, which oslo.messaging peers ignore. Names starting
	// with x-warren- are warren's own and refused. Nil sends none.
	Headers map[string]string
	// MsgID identifies a call and its replies. A driver sets it on the
	// copy of a call it sends; it is empty on casts. Received calls carry
	// it.
	MsgID string
	// ReplyTo is where replies to a call go. A driver sets it on the copy
	// of a call it sends; received calls carry it.
	ReplyTo string
	// UniqueID identifies one message for duplicate detection. Empty makes
	// a driver send a new one each time the request is sent.
	UniqueID string
}

// IsCall reports whether r expects a reply.
func (r *Request) IsCall() bool { return r.MsgID != "" }

// Reply is the final answer to a call: a result or a failure.
type Reply struct {
	// Result is the method's return value as JSON. Nil or "null" means
	// none.
	Result json.RawMessage
	// Failure describes the error the method raised. Nil on success.
	Failure *Failure
}

// Failure is a remote exception as oslo.messaging serializes it.
type Failure struct {
	// Class is the exception class name, such as "ValueError".
	Class string `json:"class"`
	// Module is the module that defines Class, such as "builtins".
	Module string `json:"module"`
	// Message is the exception's text.
	Message string `json:"message"`
	// Traceback holds the remote stack, one entry per frame.
	Traceback []string `json:"tb"`
	// Args are the exception's positional arguments.
	Args []any `json:"args"`
	// Kwargs are the exception's keyword arguments.
	Kwargs map[string]any `json:"kwargs"`
}

// Notification is one oslo.messaging notification as plain data.
type Notification struct {
	// MessageID identifies the notification: a UUID with dashes. Encoders
	// make one when it is empty.
	MessageID string
	// PublisherID names the sender, such as "compute.host1".
	PublisherID string
	// EventType names the event, such as "compute.instance.create.end".
	EventType string
	// Priority is the upper-case priority: AUDIT, DEBUG, INFO, WARN,
	// ERROR, CRITICAL or SAMPLE.
	Priority string
	// Payload is the event's data as JSON. Nil sends null.
	Payload json.RawMessage
	// Timestamp is when the event happened. Zero means now on encoding.
	Timestamp time.Time
	// Context is the request context, sent as _context_<key> entries.
	Context map[string]any
	// UniqueID identifies this message for duplicate detection. Encoders
	// make one when it is empty.
	UniqueID string
}
