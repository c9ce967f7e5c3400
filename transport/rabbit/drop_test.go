package rabbit

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/transport"
)

// dropRecorder returns an OnDrop option sending every drop to the channel
// it returns.
func dropRecorder() (Option, <-chan transport.Drop) {
	ch := make(chan transport.Drop, 16)
	return OnDrop(func(d transport.Drop) { ch <- d }), ch
}

// TestOnDrop: a body that is not a request, published raw, and a cast
// sent twice with one _unique_id each reach OnDrop once, with their
// reason and the listener's target, and the listener hands out the cast
// once.
func TestOnDrop(t *testing.T) {
	tgt := serverTarget(t, "drops")
	onDrop, drops := dropRecorder()
	tr := dial(t, onDrop)
	lis := listen(t, tr, tgt)

	// The raw body is confirmed before the casts go, so that the queue
	// holds it first: Next meets it before the last cast.
	raw := rawChannel(t, rawConn(t))
	if err := raw.Confirm(false); err != nil {
		t.Fatalf("Confirm = %v", err)
	}
	confirms := raw.NotifyPublish(make(chan amqp.Confirmation, 1))
	if err := raw.Publish(tgt.Exchange, tgt.Topic, true, false, jsonPublishing("not a request")); err != nil {
		t.Fatalf("Publish = %v", err)
	}
	if c := await(t, confirms, 10*time.Second, "confirm"); !c.Ack {
		t.Fatalf("the raw publish was nacked")
	}
	req := &message.Request{Method: "echo", UniqueID: unique("dup")}
	for range 2 {
		if err := tr.Cast(within(t, 10*time.Second), tgt, req); err != nil {
			t.Fatalf("Cast = %v", err)
		}
	}
	if err := tr.Cast(within(t, 10*time.Second), tgt, &message.Request{Method: "last"}); err != nil {
		t.Fatalf("Cast = %v", err)
	}

	for _, want := range []string{"echo", "last"} {
		in, err := lis.Next(within(t, 10*time.Second))
		if err != nil {
			t.Fatalf("Next = %v", err)
		}
		if m := in.Request().Method; m != want {
			t.Fatalf("Next = %q, want %q", m, want)
		}
	}
	got := make(map[transport.DropReason]transport.Drop)
	for range 2 {
		d := await(t, drops, 10*time.Second, "drop")
		got[d.Reason] = d
	}
	for _, want := range []transport.DropReason{transport.DropRejected, transport.DropDuplicate} {
		d, ok := got[want]
		if !ok || d.Source != tgt.String() || (d.Err != nil) != (want == transport.DropRejected) {
			t.Errorf("OnDrop got %+v for %v, want one from %q, with an error only when rejected", d, want, tgt.String())
		}
	}
	select {
	case d := <-drops:
		t.Errorf("OnDrop got %+v, want no more drops", d)
	default:
	}
}
