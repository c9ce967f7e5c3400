package notify

import (
	"encoding/json"
	"testing"
)

// FuzzFilterMatch feeds payloads and context values from outside to a
// filter: matching never panics, and a match implies the payload field is
// a string.
func FuzzFilterMatch(f *testing.F) {
	f.Add([]byte(`{"state": "active"}`), "active")
	f.Add([]byte(`{"state": 1}`), "x")
	f.Add([]byte(`[1,2]`), "")
	f.Add([]byte(`null`), "a")
	f.Add([]byte(`{"nova_object.data": {"state": "active"}}`), "active")
	m, err := Filter{Payload: map[string]string{"state": "act"}, Context: map[string]string{"k": ".*"}}.compile()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte, ctxValue string) {
		n := &Notification{Payload: payload, Context: map[string]any{"k": ctxValue}}
		if !m.match(n) {
			return
		}
		var fields map[string]any
		if err := json.Unmarshal(payload, &fields); err != nil {
			t.Fatalf("matched payload %q that is not a JSON object: %v", payload, err)
		}
		if _, ok := fields["state"].(string); !ok {
			t.Fatalf("matched payload %q whose state is not a string", payload)
		}
	})
}
