package notify

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// Filter selects notifications by regular expressions, as oslo.messaging's
// NotificationFilter: each expression must match at the start of the
// field (Python's re.match), every field given must be present and a
// string, and all of them must match. The zero Filter matches everything.
type Filter struct {
	// PublisherID matches the publisher id. Empty matches any.
	PublisherID string
	// EventType matches the event type. Empty matches any.
	EventType string
	// Context matches request context entries by key.
	Context map[string]string
	// Payload matches the top-level fields of a payload that is a JSON
	// object, by key.
	Payload map[string]string
	// Metadata matches "message_id" and "timestamp" (as oslo formats it,
	// "2006-01-02 15:04:05.000000").
	Metadata map[string]string
}

// matcher is a compiled Filter.
type matcher struct {
	publisherID, eventType *regexp.Regexp
	context, payload, meta map[string]*regexp.Regexp
}

// compile compiles f; nil means f matches everything.
func (f Filter) compile() (*matcher, error) {
	if f.PublisherID == "" && f.EventType == "" && len(f.Context) == 0 && len(f.Payload) == 0 && len(f.Metadata) == 0 {
		return nil, nil
	}
	var (
		m   matcher
		err error
	)
	if m.publisherID, err = anchored("publisher id", f.PublisherID); err != nil {
		return nil, err
	}
	if m.eventType, err = anchored("event type", f.EventType); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		what string
		in   map[string]string
		out  *map[string]*regexp.Regexp
	}{{"context", f.Context, &m.context}, {"payload", f.Payload, &m.payload}, {"metadata", f.Metadata, &m.meta}} {
		*c.out = make(map[string]*regexp.Regexp, len(c.in))
		for k, expr := range c.in {
			re, err := anchored(c.what+" field "+k, expr)
			if err != nil {
				return nil, err
			}
			if re == nil {
				re = regexp.MustCompile("^")
			}
			(*c.out)[k] = re
		}
	}
	return &m, nil
}

// anchored compiles expr to match at the start only, as Python's
// re.match; empty gives nil.
func anchored(what, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(`^(?:` + expr + `)`)
	if err != nil {
		return nil, fmt.Errorf("notify: filter on %s: %w", what, err)
	}
	return re, nil
}

// match reports whether n passes m; a nil m passes everything.
func (m *matcher) match(n *Notification) bool {
	if m == nil {
		return true
	}
	if m.publisherID != nil && !m.publisherID.MatchString(n.PublisherID) {
		return false
	}
	if m.eventType != nil && !m.eventType.MatchString(n.EventType) {
		return false
	}
	if !matchFields(m.context, n.Context) {
		return false
	}
	if len(m.meta) > 0 {
		meta := map[string]any{"message_id": n.MessageID, "timestamp": n.Timestamp.UTC().Format("2006-01-02 15:04:05.000000")}
		if !matchFields(m.meta, meta) {
			return false
		}
	}
	if len(m.payload) > 0 {
		var fields map[string]any
		if err := json.Unmarshal(n.Payload, &fields); err != nil || fields == nil {
			return false
		}
		if !matchFields(m.payload, fields) {
			return false
		}
	}
	return true
}

// matchFields reports whether every key of res is in fields, holds a
// string, and matches.
func matchFields(res map[string]*regexp.Regexp, fields map[string]any) bool {
	for k, re := range res {
		s, ok := fields[k].(string)
		if !ok || !re.MatchString(s) {
			return false
		}
	}
	return true
}
