package wire

import (
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warrenrpc/warren/message"
)

// timestampLayout is Python's str(datetime) for a naive UTC time, which
// oslo.messaging sends; it omits the fraction when microseconds are zero.
const timestampLayout = "2006-01-02 15:04:05.999999"

// formatTimestamp formats t as oslo.messaging does: UTC, a space between
// date and time, six fraction digits or none.
func formatTimestamp(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("2006-01-02 15:04:05.000000")
}

// EncodeNotification returns the body of a messagingv2 notification: the
// 2.0 envelope around message_id, publisher_id, event_type, priority,
// payload, timestamp, _unique_id and the context as _context_<key> entries.
func EncodeNotification(n *message.Notification) ([]byte, error) {
	id := n.MessageID
	if id == "" {
		id = uuid.NewString()
	}
	ts := n.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	payload := []byte(n.Payload)
	if isNull(payload) {
		payload = []byte("null")
	} else if !valid(payload) {
		return nil, malformed("notification payload is not valid JSON")
	}
	unique := n.UniqueID
	if unique == "" {
		unique = NewID()
	}
	w := newWriter(256 + len(payload))
	w.str("message_id", id)
	w.str("publisher_id", n.PublisherID)
	w.str("event_type", n.EventType)
	w.str("priority", strings.ToUpper(n.Priority))
	w.raw("payload", payload)
	w.str("timestamp", formatTimestamp(ts))
	w.str("_unique_id", unique)
	w.context(n.Context)
	return w.body()
}

// DecodeNotification decodes a notification body: a messagingv2 envelope
// or a bare messaging (v1) dictionary. A timestamp that does not parse is
// an error; a missing one leaves Timestamp zero.
func DecodeNotification(body []byte) (*message.Notification, error) {
	m, err := openMessage(body)
	if err != nil {
		return nil, err
	}
	n := &message.Notification{}
	var timestamp string
	for key, val, ok := m.next(); ok && err == nil; key, val, ok = m.next() {
		var isContext bool
		if isContext, err = addContext(&n.Context, key, val); isContext {
			continue
		}
		switch {
		case is(key, "message_id"):
			err = decodeString("message_id", val, &n.MessageID)
		case is(key, "publisher_id"):
			err = decodeString("publisher_id", val, &n.PublisherID)
		case is(key, "event_type"):
			err = decodeString("event_type", val, &n.EventType)
		case is(key, "priority"):
			err = decodeString("priority", val, &n.Priority)
		case is(key, "payload"):
			n.Payload = raw(val)
		case is(key, "timestamp"):
			err = decodeString("timestamp", val, &timestamp)
		case is(key, "_unique_id"):
			err = decodeString("_unique_id", val, &n.UniqueID)
		}
	}
	if err = m.finish(err); err != nil {
		return nil, err
	}
	if n.EventType == "" {
		return nil, malformed("notification has no event_type")
	}
	if n.Priority == "" {
		return nil, malformed("notification has no priority")
	}
	if isNull(n.Payload) {
		n.Payload = nil
	}
	if timestamp != "" {
		t, err := time.Parse(timestampLayout, timestamp)
		if err != nil {
			return nil, malformed("notification timestamp %q: want \"YYYY-MM-DD HH:MM:SS[.ffffff]\"", timestamp)
		}
		n.Timestamp = t
	}
	return n, nil
}
