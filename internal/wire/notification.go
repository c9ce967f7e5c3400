package wire

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
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
	} else if !json.Valid(payload) {
		return nil, malformed("notification payload is not valid JSON")
	}
	unique := n.UniqueID
	if unique == "" {
		unique = NewID()
	}
	w := writer{buf: make([]byte, 0, 256+len(payload)), first: true}
	w.buf = append(w.buf, '{')
	w.value("message_id", id)
	w.value("publisher_id", n.PublisherID)
	w.value("event_type", n.EventType)
	w.value("priority", strings.ToUpper(n.Priority))
	w.raw("payload", payload)
	w.value("timestamp", formatTimestamp(ts))
	w.value("_unique_id", unique)
	for _, k := range slices.Sorted(maps.Keys(n.Context)) {
		w.value(contextPrefix+k, n.Context[k])
	}
	if w.err != nil {
		return nil, w.err
	}
	w.buf = append(w.buf, '}')
	return envelope(w.buf)
}

// DecodeNotification decodes a notification body: a messagingv2 envelope
// or a bare messaging (v1) dictionary. A timestamp that does not parse is
// an error; a missing one leaves Timestamp zero.
func DecodeNotification(body []byte) (*message.Notification, error) {
	inner, err := unwrap(body)
	if err != nil {
		return nil, err
	}
	var f struct {
		MessageID   string          `json:"message_id"`
		PublisherID string          `json:"publisher_id"`
		EventType   string          `json:"event_type"`
		Priority    string          `json:"priority"`
		Payload     json.RawMessage `json:"payload"`
		Timestamp   string          `json:"timestamp"`
		UniqueID    string          `json:"_unique_id"`
	}
	if err := decodeInto(inner, &f); err != nil {
		return nil, err
	}
	n := &message.Notification{
		MessageID:   f.MessageID,
		PublisherID: f.PublisherID,
		EventType:   f.EventType,
		Priority:    f.Priority,
		UniqueID:    f.UniqueID,
	}
	if n.EventType == "" {
		return nil, malformed("notification has no event_type")
	}
	if n.Priority == "" {
		return nil, malformed("notification has no priority")
	}
	if !isNull(f.Payload) {
		n.Payload = f.Payload
	}
	if f.Timestamp != "" {
		t, err := time.Parse(timestampLayout, f.Timestamp)
		if err != nil {
			return nil, malformed("notification timestamp %q: want \"YYYY-MM-DD HH:MM:SS[.ffffff]\"", f.Timestamp)
		}
		n.Timestamp = t
	}
	if bytes.Contains(inner, []byte(`"`+contextPrefix)) {
		m, err := decodeMap(inner)
		if err != nil {
			return nil, err
		}
		if n.Context, err = decodeContext(m); err != nil {
			return nil, err
		}
	}
	return n, nil
}
