package rabbit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/transport"
)

// aloPreset is the queue preset of the at-least-once tests: quorum queues
// with a small delivery limit.
var aloPreset = QueuePreset(Queues{Quorum: true, QuorumDeliveryLimit: 2})

func TestAtLeastOnceNeedsDurableQueues(t *testing.T) {
	cases := []struct {
		name string
		url  string
		opts []Option
		ok   bool
	}{
		{"option, transient queues", "", []Option{AtLeastOnce()}, false},
		{"query, transient queues", "?at_least_once=true", nil, false},
		{"query, durable queues", "?at_least_once=true&amqp_durable_queues=true", nil, true},
		{"option, quorum queues", "", []Option{AtLeastOnce(), aloPreset}, true},
		{"query off", "?at_least_once=false", nil, true},
		{"query not a boolean", "?at_least_once=maybe&amqp_durable_queues=true", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tr, err := Dial(ctx, strings.TrimSuffix(brokerURL(), "/")+"/"+c.url, c.opts...)
			if err == nil {
				tr.Close()
			}
			if (err == nil) != c.ok {
				t.Errorf("Dial = %v, want ok %v", err, c.ok)
			}
			if err != nil && !c.ok && !strings.HasPrefix(err.Error(), "rabbit: ") {
				t.Errorf("Dial = %q, want a rabbit: error", err)
			}
		})
	}
}

// deadLetter takes the next message of the dead-letter queue of tgt's
// exchange, failing the test after 10 s.
func deadLetter(t *testing.T, ch *amqp.Channel, queue string) amqp.Delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatalf("Get(%s) = %v", queue, err)
		}
		if ok {
			return d
		}
		<-time.After(20 * time.Millisecond)
	}
	t.Fatalf("no dead letter in %s within 10s", queue)
	return amqp.Delivery{}
}

// TestDeadLetters: a cast whose handling fails at every delivery and a
// body that is not a request both end in the dead-letter queue, with
// their reason, and are reported to OnDrop; the listener serves on.
func TestDeadLetters(t *testing.T) {
	tgt := serverTarget(t, "dead")
	onDrop, drops := dropRecorder()
	tr := dial(t, AtLeastOnce(), aloPreset, onDrop)
	lis := listen(t, tr, tgt)
	ch := rawChannel(t, rawConn(t))

	if err := tr.Cast(within(t, 10*time.Second), tgt, &message.Request{Method: "poison"}); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	var (
		in  transport.Incoming
		err error
	)
	for i := range 2 {
		in, err = lis.Next(within(t, 10*time.Second))
		if err != nil || in.Request().Method != "poison" {
			t.Fatalf("Next %d = %v, %v; want poison", i, in, err)
		}
		in.(transport.Settler).Settle(errors.New("handler failed"))
	}
	dl := deadLetter(t, ch, tgt.Exchange+".dlq")
	if reason, _ := dl.Headers[deadReasonHeader].(string); !strings.HasPrefix(reason, "delivery-limit: ") || !strings.Contains(reason, "handler failed") {
		t.Errorf("dead letter reason %q, want delivery-limit: ... handler failed", reason)
	}
	if key := tgt.Topic + "." + tgt.Server; dl.RoutingKey != key || dl.Headers[deadSourceHeader] != tgt.String() {
		t.Errorf("dead letter routing key %q, source %v; want %q, %q", dl.RoutingKey, dl.Headers[deadSourceHeader], key, tgt.String())
	}
	if d := await(t, drops, 10*time.Second, "drop"); d.Reason != transport.DropDeliveryLimit || d.Err == nil {
		t.Errorf("OnDrop got %+v, want DropDeliveryLimit with the handler's error", d)
	}

	// Confirmed before the cast is sent, so queued before it.
	pub := rawChannel(t, rawConn(t))
	if err := pub.Confirm(false); err != nil {
		t.Fatalf("Confirm = %v", err)
	}
	conf, err := pub.PublishWithDeferredConfirm(tgt.Exchange, tgt.Topic+"."+tgt.Server, true, false, jsonPublishing("not a request"))
	if err != nil {
		t.Fatalf("Publish = %v", err)
	}
	if ok, err := conf.WaitContext(within(t, 10*time.Second)); !ok || err != nil {
		t.Fatalf("the broker confirmed the raw message: %v, %v", ok, err)
	}
	if err := tr.Cast(within(t, 10*time.Second), tgt, &message.Request{Method: "after"}); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	in, err = lis.Next(within(t, 10*time.Second))
	if err != nil || in.Request().Method != "after" {
		t.Fatalf("Next = %v, %v; want after", in, err)
	}
	in.(transport.Settler).Settle(nil)
	dl = deadLetter(t, ch, tgt.Exchange+".dlq")
	if reason, _ := dl.Headers[deadReasonHeader].(string); !strings.HasPrefix(reason, "rejected: ") || string(dl.Body) != "not a request" {
		t.Errorf("dead letter %q with reason %q, want the body rejected", dl.Body, reason)
	}
	if d := await(t, drops, 10*time.Second, "drop"); d.Reason != transport.DropRejected {
		t.Errorf("OnDrop got %+v, want DropRejected", d)
	}
}

// TestAtLeastOnceAckLost: a cast handled while its server's consuming
// connection drops loses its ack; the broker delivers it again after the
// reconnect, and the server drops that copy as a duplicate instead of
// running it twice.
func TestAtLeastOnceAckLost(t *testing.T) {
	tgt := serverTarget(t, "acklost")
	rec := &connRecorder{}
	states := newStateRecorder()
	onDrop, drops := dropRecorder()
	tr := dial(t, AtLeastOnce(), aloPreset, rec.option(), states.option(), onDrop)
	states.await(t, StateReady, 5*time.Second)
	lis := listen(t, tr, tgt)
	client := dial(t, aloPreset)

	if err := client.Cast(within(t, 10*time.Second), tgt, &message.Request{Method: "once"}); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	in, err := lis.Next(within(t, 10*time.Second))
	if err != nil {
		t.Fatalf("Next = %v", err)
	}
	rec.conn(1).Close()
	states.await(t, StateConnecting, 10*time.Second)
	in.(transport.Settler).Settle(nil) // handled; the ack is lost
	// The broker requeued the cast when the connection dropped, ahead of
	// this one.
	if err := client.Cast(within(t, 10*time.Second), tgt, &message.Request{Method: "after"}); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	in, err = lis.Next(within(t, 20*time.Second))
	if err != nil || in.Request().Method != "after" {
		t.Fatalf("Next = %v, %v; want after, not the handled cast again", in, err)
	}
	in.(transport.Settler).Settle(nil)
	if d := await(t, drops, 10*time.Second, "drop of the redelivered cast"); d.Reason != transport.DropDuplicate {
		t.Errorf("OnDrop got %+v, want the redelivery dropped as a duplicate", d)
	}
}
