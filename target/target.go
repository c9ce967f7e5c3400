package target

import (
	"errors"
	"fmt"
)

// ErrInvalid is the condition every target validation error matches with
// errors.Is.
var ErrInvalid = errors.New("target: invalid target")

// Target addresses RPC messages and servers, as oslo.messaging's Target does.
//
// A client needs Topic. A server needs Topic and Server. Namespace and Version
// select endpoints on the server side. Fanout makes a cast reach every server
// of the topic; a call cannot be fanout.
type Target struct {
	// Exchange is the topic exchange messages are published to. Zero means
	// the transport's control exchange ("openstack" unless configured).
	Exchange string
	// Topic is the queue every server of a service shares. Required.
	Topic string
	// Namespace selects endpoints declared in that namespace. Zero means
	// the default namespace (oslo's None).
	Namespace string
	// Version is the API version a client asks for, or the one an endpoint
	// implements, as "X.Y" or "X.Y.Z". Zero means none is sent; a server
	// treats a request without a version as "1.0", and an endpoint without
	// one as implementing "1.0".
	Version string
	// Server names one server. On a client it sends the message to that
	// server only; on a server it is the server's own name. Zero on a
	// client means any server of the topic.
	Server string
	// Fanout makes a cast go to every server of the topic. Server and
	// Exchange are ignored then.
	Fanout bool
}

// String returns a short readable form of t, such as
// "openstack/calculator.host-1 ns=compute v=1.2 fanout".
func (t Target) String() string {
	s := t.Topic
	if t.Exchange != "" {
		s = t.Exchange + "/" + s
	}
	if t.Server != "" {
		s += "." + t.Server
	}
	if t.Namespace != "" {
		s += " ns=" + t.Namespace
	}
	if t.Version != "" {
		s += " v=" + t.Version
	}
	if t.Fanout {
		s += " fanout"
	}
	return s
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func (t Target) validateCommon() error {
	if t.Topic == "" {
		return invalid("a topic is required")
	}
	if t.Version != "" {
		if _, err := ParseVersion(t.Version); err != nil {
			return invalid("%v", err)
		}
	}
	return nil
}

// ValidateCall reports whether t can address a call: it needs a topic, a
// well-formed version if any, and no fanout.
func (t Target) ValidateCall() error {
	if err := t.validateCommon(); err != nil {
		return err
	}
	if t.Fanout {
		return invalid("a call cannot be used with fanout")
	}
	return nil
}

// ValidateCast reports whether t can address a cast or a fanout cast: it
// needs a topic and a well-formed version if any.
func (t Target) ValidateCast() error {
	return t.validateCommon()
}

// ValidateServer reports whether t can name a server: it needs a topic and
// a server name, and cannot be fanout.
func (t Target) ValidateServer() error {
	if err := t.validateCommon(); err != nil {
		return err
	}
	if t.Server == "" {
		return invalid("a server needs a server name")
	}
	if t.Fanout {
		return invalid("a server target cannot be fanout")
	}
	return nil
}
