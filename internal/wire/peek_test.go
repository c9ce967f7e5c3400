package wire

import (
	"strings"
	"testing"
)

func TestPeek(t *testing.T) {
	caps := map[string]capture{}
	for _, c := range loadCaptures(t) {
		caps[c.Name] = c
	}
	tests := []struct {
		name          string
		body          string
		msgID, replyQ string
	}{
		{"call capture", caps["01-call-request"].Body, "3ad888affe984f8ba586134ccf7b440c", "reply_8e80331e53d6437d848b49eb4541f29c"},
		{"reply capture", caps["08-call-reply-int"].Body, "0ee5c598af184d96bbab904e7a003de0", ""},
		{"cast capture", caps["03-cast-request"].Body, "", ""},
		{"bare", `{"method": "m", "_msg_id": "abc", "_reply_q": "reply_x:1:2"}`, "abc", "reply_x:1:2"},
		{"python NaN", `{"oslo.version": "2.0", "oslo.message": "{\"result\": NaN, \"failure\": null, \"ending\": true, \"_msg_id\": \"m1\"}"}`, "m1", ""},
		{"envelope 2.1", `{"oslo.version": "2.1", "oslo.message": "{\"method\": \"m\", \"_msg_id\": \"m2\", \"_reply_q\": \"q2\"}"}`, "m2", "q2"},
		{"truncated", `{"oslo.version": "2.0", "oslo.message": "{\"_msg_id\": \"m3`, "", ""},
		{"key in a value", `{"a": "x_msg_id", "_msg_id": "m4"}`, "m4", ""},
		{"number value", `{"_msg_id": 5}`, "", ""},
		{"empty value", `{"_msg_id": ""}`, "", ""},
		{"no keys", `hello`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, q := Peek([]byte(tt.body))
			if id != tt.msgID || q != tt.replyQ {
				t.Errorf("Peek(%q) = %q, %q; want %q, %q", tt.body, id, q, tt.msgID, tt.replyQ)
			}
		})
	}
}

// FuzzPeek checks that Peek never panics and returns only id characters.
func FuzzPeek(f *testing.F) {
	addCaptureSeeds(f)
	f.Add([]byte(`{"_msg_id": "a", "_reply_q": "\"b\""}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		id, q := Peek(body)
		for _, s := range []string{id, q} {
			if strings.IndexFunc(s, func(r rune) bool { return r > 127 || !isIDByte(byte(r)) }) >= 0 {
				t.Fatalf("Peek(%q) = %q, %q: not an id", body, id, q)
			}
		}
	})
}
