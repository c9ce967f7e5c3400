package memory

import (
	"context"
	"testing"
	"time"

	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// TestNextSkipsGarbage checks that a message that is not a valid request
// does not end the listener: Next drops it and returns the next good one.
func TestNextSkipsGarbage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := New()
	defer tr.Close()
	tgt := target.Target{Topic: "garbage", Server: "s1"}
	lis, err := tr.Listen(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()

	for _, body := range []string{`not json`, `{"oslo.version": "2.1", "oslo.message": "{}"}`, `{"args": {}}`} {
		if err := tr.bus.send(ctx, tr.done, topology.RouteOf(target.Target{Topic: "garbage"}, transport.DefaultControlExchange), &envelope{body: []byte(body)}); err != nil {
			t.Fatalf("sending %q: %v", body, err)
		}
	}
	if err := tr.Cast(ctx, target.Target{Topic: "garbage"}, &message.Request{Method: "good"}); err != nil {
		t.Fatal(err)
	}
	in, err := lis.Next(ctx)
	if err != nil {
		t.Fatalf("Next after garbage = %v, want the good request", err)
	}
	if m := in.Request().Method; m != "good" {
		t.Errorf("Next returned method %q, want good", m)
	}
}
