package wire

import (
	"encoding/json"
	"strings"
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

// benchSizes are the payload sizes the sized benchmarks run with, as the
// benchmark suite's rows: 100 B, 10 KB and 1 MB.
var benchSizes = []struct {
	name string
	n    int
}{{"100B", 100}, {"10KB", 10 << 10}, {"1MB", 1 << 20}}

// sizedRequest returns benchRequest with args {"data": "<n bytes>"}; the
// payload holds a quote and a newline every 64 bytes, which the envelope
// escapes twice.
func sizedRequest(b *testing.B, n int) *message.Request {
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(`lorem ipsum dolor sit amet, consectetur adipiscing elit "sed"` + "\n ")
	}
	args, err := json.Marshal(map[string]string{"data": sb.String()[:n]})
	if err != nil {
		b.Fatal(err)
	}
	req := *benchRequest
	req.Args = args
	return &req
}

// BenchmarkEncodeRequest: bar 1 allocs/op (the body).
func BenchmarkEncodeRequest(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeRequest(benchRequest); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeRequestSize encodes requests with args of 100 B, 10 KB
// and 1 MB.
func BenchmarkEncodeRequestSize(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			req := sizedRequest(b, size.n)
			b.ReportAllocs()
			b.SetBytes(int64(len(req.Args)))
			for b.Loop() {
				if _, err := EncodeRequest(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeRequest: bar 14 allocs/op.
func BenchmarkDecodeRequest(b *testing.B) {
	body, err := EncodeRequest(benchRequest)
	if err != nil {
		b.Fatal(err)
	}
	loopDecode(b, body, DecodeRequest)
}

// loopDecode measures decode on body.
func loopDecode[T any](b *testing.B, body []byte, decode func([]byte) (T, error)) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decode(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRequestSize decodes requests with args of 100 B, 10 KB
// and 1 MB.
func BenchmarkDecodeRequestSize(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			body, err := EncodeRequest(sizedRequest(b, size.n))
			if err != nil {
				b.Fatal(err)
			}
			loopDecode(b, body, DecodeRequest)
		})
	}
}

// BenchmarkEncodeReply: bar 2 allocs/op (the body, the _unique_id).
func BenchmarkEncodeReply(b *testing.B) {
	r := &message.Reply{Result: json.RawMessage(`2.0`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeReply("3ad888affe984f8ba586134ccf7b440c", r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplySize encodes and decodes replies whose result is an
// object of 100 B, 10 KB and 1 MB.
func BenchmarkReplySize(b *testing.B) {
	for _, size := range benchSizes {
		r := &message.Reply{Result: sizedRequest(b, size.n).Args}
		b.Run("Encode/"+size.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(r.Result)))
			for b.Loop() {
				if _, err := EncodeReply("3ad888affe984f8ba586134ccf7b440c", r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Decode/"+size.name, func(b *testing.B) {
			body, err := EncodeReply("3ad888affe984f8ba586134ccf7b440c", r)
			if err != nil {
				b.Fatal(err)
			}
			loopDecode(b, body, DecodeReply)
		})
	}
}

// BenchmarkDecodeReply: bar 4 allocs/op.
func BenchmarkDecodeReply(b *testing.B) {
	body, err := EncodeReply("3ad888affe984f8ba586134ccf7b440c", &message.Reply{Result: json.RawMessage(`2.0`)})
	if err != nil {
		b.Fatal(err)
	}
	loopDecode(b, body, DecodeReply)
}
