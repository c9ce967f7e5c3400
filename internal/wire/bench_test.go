package wire

import (
	"encoding/json"
	"testing"

	"github.com/warrenrpc/warren/message"
)

var benchRequest = &message.Request{
	Method:   "divide",
	Args:     json.RawMessage(`{"num1": 200, "num2": 100}`),
	MsgID:    "3ad888affe984f8ba586134ccf7b440c",
	ReplyTo:  "reply_8e80331e53d6437d848b49eb4541f29c",
	UniqueID: "893343a079834489b44e71b89900d909",
	Context:  map[string]any{"user": "u1", "request_id": "req-1"},
}

// BenchmarkEncodeRequest: bar 22 allocs/op.
func BenchmarkEncodeRequest(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeRequest(benchRequest); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRequest: bar 69 allocs/op.
func BenchmarkDecodeRequest(b *testing.B) {
	body, err := EncodeRequest(benchRequest)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeReply: bar 12 allocs/op.
func BenchmarkEncodeReply(b *testing.B) {
	r := &message.Reply{Result: json.RawMessage(`2.0`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeReply("3ad888affe984f8ba586134ccf7b440c", r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeReply: bar 26 allocs/op.
func BenchmarkDecodeReply(b *testing.B) {
	body, err := EncodeReply("3ad888affe984f8ba586134ccf7b440c", &message.Reply{Result: json.RawMessage(`2.0`)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeReply(body); err != nil {
			b.Fatal(err)
		}
	}
}
