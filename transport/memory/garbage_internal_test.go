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

// TestOnDrop: a body that is not a request and a cast sent twice with one
// _unique_id each reach OnDrop once, with their reason and queue, and the
// listener hands out the cast once.
func TestOnDrop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var drops []transport.Drop
	tr := New(OnDrop(func(d transport.Drop) { drops = append(drops, d) }))
	defer tr.Close()
	tgt := target.Target{Topic: "drops", Server: "s1"}
	lis, err := tr.Listen(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()

	if err := tr.bus.send(ctx, tr.done, topology.RouteOf(target.Target{Topic: "drops"}, transport.DefaultControlExchange), &envelope{body: []byte("not a request")}); err != nil {
		t.Fatal(err)
	}
	req := &message.Request{Method: "echo", UniqueID: "dup-1"}
	for range 2 {
		if err := tr.Cast(ctx, target.Target{Topic: "drops"}, req); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Cast(ctx, target.Target{Topic: "drops"}, &message.Request{Method: "last"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"echo", "last"} {
		in, err := lis.Next(ctx)
		if err != nil {
			t.Fatalf("Next = %v", err)
		}
		if m := in.Request().Method; m != want {
			t.Fatalf("Next = %q, want %q", m, want)
		}
	}
	// OnDrop ran in Next, on this goroutine.
	want := []transport.DropReason{transport.DropRejected, transport.DropDuplicate}
	if len(drops) != len(want) {
		t.Fatalf("OnDrop got %+v, want %v", drops, want)
	}
	for i, d := range drops {
		if d.Reason != want[i] || d.Source != "drops" || (d.Err != nil) != (want[i] == transport.DropRejected) {
			t.Errorf("OnDrop %d = %+v, want reason %v from queue drops, an error only when rejected", i, d, want[i])
		}
	}
}
