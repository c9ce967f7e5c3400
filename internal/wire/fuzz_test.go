package wire

import (
	"testing"

	"github.com/warrenrpc/warren/message"
)

func addCaptureSeeds(f *testing.F) {
	for _, c := range loadCaptures(f) {
		f.Add([]byte(c.Body))
	}
	f.Add([]byte(`{"oslo.version": "2.1", "oslo.message": "{}"}`))
	f.Add([]byte(`{"method": "m"}`))
	f.Add([]byte(`null`))
}

// FuzzDecodeRequest checks that no body makes DecodeRequest panic, and that
// what it accepts encodes and decodes again to the same request.
func FuzzDecodeRequest(f *testing.F) {
	addCaptureSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(body)
		if err != nil {
			return
		}
		out, err := EncodeRequest(req)
		if err != nil {
			t.Fatalf("EncodeRequest(DecodeRequest(%q)) = %v", body, err)
		}
		again, err := DecodeRequest(out)
		if err != nil {
			t.Fatalf("DecodeRequest(%q) = %v after a round trip", out, err)
		}
		if again.Method != req.Method || again.MsgID != req.MsgID || (req.UniqueID != "" && again.UniqueID != req.UniqueID) ||
			again.Namespace != req.Namespace || again.Version != req.Version || len(again.Context) != len(req.Context) {
			t.Fatalf("round trip changed the request: %+v -> %+v", req, again)
		}
	})
}

// FuzzDecodeReply checks that no body makes DecodeReply panic, and that
// accepted replies survive a round trip.
func FuzzDecodeReply(f *testing.F) {
	addCaptureSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeReply(body)
		if err != nil {
			return
		}
		out, err := EncodeReply(m.MsgID, &message.Reply{Result: m.Result, Failure: m.Failure})
		if err != nil {
			t.Fatalf("EncodeReply after DecodeReply(%q) = %v", body, err)
		}
		again, err := DecodeReply(out)
		if err != nil {
			t.Fatalf("DecodeReply(%q) = %v after a round trip", out, err)
		}
		if again.MsgID != m.MsgID || (again.Failure == nil) != (m.Failure == nil) || !again.Ending {
			t.Fatalf("round trip changed the reply: %+v -> %+v", m, again)
		}
	})
}

// FuzzDecodeNotification checks that no body makes DecodeNotification
// panic, and that accepted notifications survive a round trip.
func FuzzDecodeNotification(f *testing.F) {
	addCaptureSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := DecodeNotification(body)
		if err != nil {
			return
		}
		out, err := EncodeNotification(n)
		if err != nil {
			t.Fatalf("EncodeNotification after DecodeNotification(%q) = %v", body, err)
		}
		again, err := DecodeNotification(out)
		if err != nil {
			t.Fatalf("DecodeNotification(%q) = %v after a round trip", out, err)
		}
		if again.EventType != n.EventType || (n.UniqueID != "" && again.UniqueID != n.UniqueID) {
			t.Fatalf("round trip changed the notification: %+v -> %+v", n, again)
		}
	})
}
