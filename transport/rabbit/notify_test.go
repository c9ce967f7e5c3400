package rabbit

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// notifyTarget returns a notification target of its own, whose exchange
// and queue <topic>.info are deleted when the test ends.
func notifyTarget(t *testing.T, name string) (target.Target, string) {
	tgt := target.Target{Exchange: unique("nx-" + name), Topic: unique("n-" + name)}
	queue := tgt.Topic + ".info"
	t.Cleanup(func() {
		deleteQueue(t, queue)
		forget(t, target.Target{Exchange: tgt.Exchange, Topic: queue})
	})
	return tgt, queue
}

// TestNotificationListenerRejectsInvalidMessages: what is not a valid
// notification, the oslo capture of a request included, is rejected and
// logged; the listener goes on, and the oslo captures of notifications
// come through.
func TestNotificationListenerRejectsInvalidMessages(t *testing.T) {
	const limit = 4096
	tgt, queue := notifyTarget(t, "garbage")
	logs := &logRecorder{}
	tr := dial(t, MaxMessageSize(limit), Logger(slog.New(logs)))
	lis, err := tr.ListenNotifications(within(t, 10*time.Second), []transport.Subscription{{Target: tgt, Priority: "info"}}, "")
	if err != nil {
		t.Fatalf("ListenNotifications = %v", err)
	}
	t.Cleanup(func() { lis.Close() })
	good := loadFixture(t, "22-notification-info.json")
	invalid := []string{
		"hello",
		`{"oslo.version": "2.0", "oslo.message": "{\"priority\": \"INFO\"}"}`, // no event_type
		`{"oslo.version": "2.0", "oslo.message": "{\"event_type\": \"e\", \"priority\": \"INFO\", \"timestamp\": \"yesterday\"}"}`,
		loadFixture(t, "03-cast-request.json").Body,
		strings.Replace(good.Body, "vm1", strings.Repeat("x", limit), 1),
	}
	ch := rawChannel(t, rawConn(t))
	for _, body := range append(invalid, good.Body) {
		if err := ch.Publish(tgt.Exchange, queue, true, false, jsonPublishing(body)); err != nil {
			t.Fatalf("Publish = %v", err)
		}
	}
	in, err := lis.Next(within(t, 10*time.Second))
	if err != nil {
		t.Fatalf("Next = %v", err)
	}
	n := in.Notification()
	if n.EventType != "compute.instance.create.end" || n.PublisherID != "compute.host1" || n.Context["request_id"] != "req-3" ||
		n.MessageID != "7c907073-af55-4574-81ad-cfbd3390b175" || n.Timestamp.Year() != 2026 {
		t.Errorf("Next = %+v, want capture 22", n)
	}
	if err := in.Ack(); err != nil {
		t.Errorf("Ack = %v", err)
	}
	if got := logs.count("dropping a message that is not a valid notification"); got != len(invalid) {
		t.Errorf("logged %d rejections, want %d", got, len(invalid))
	}
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil || q.Messages != 0 {
		t.Errorf("queue %s holds %d messages (%v), want none", queue, q.Messages, err)
	}
}

// TestNotifyMatchesCapture: a notification sent by the driver has the
// routing and properties of oslo's capture 22.
func TestNotifyMatchesCapture(t *testing.T) {
	tgt, queue := notifyTarget(t, "capture")
	tr := dial(t)
	n := &message.Notification{PublisherID: "compute.host1", EventType: "compute.instance.create.end", Priority: "INFO", Payload: []byte(`{"id": 42}`)}
	if err := tr.Notify(within(t, 10*time.Second), tgt, n, transport.QueueLimits{}); err != nil {
		t.Fatalf("Notify = %v", err)
	}
	ch := rawChannel(t, rawConn(t))
	d, ok, err := ch.Get(queue, true)
	if err != nil || !ok {
		t.Fatalf("Get(%s) = %v, %v", queue, ok, err)
	}
	if d.Exchange != tgt.Exchange || d.RoutingKey != queue || d.ContentType != "application/json" ||
		d.ContentEncoding != "utf-8" || d.DeliveryMode != amqp.Persistent {
		t.Errorf("delivery exchange %q key %q type %q encoding %q mode %d; want %q %q application/json utf-8 2",
			d.Exchange, d.RoutingKey, d.ContentType, d.ContentEncoding, d.DeliveryMode, tgt.Exchange, queue)
	}
	if !strings.Contains(string(d.Body), `\"priority\": \"INFO\"`) && !strings.Contains(string(d.Body), `\"priority\":\"INFO\"`) {
		t.Errorf("body %s lacks the upper-case priority", d.Body)
	}
}

// TestNotificationQuorumPool: a pool queue someone declared as a quorum
// queue is used as it is, and Deliveries comes from its x-delivery-count.
func TestNotificationQuorumPool(t *testing.T) {
	tgt, _ := notifyTarget(t, "quorum")
	pool := unique("pool")
	ch := rawChannel(t, rawConn(t))
	if _, err := ch.QueueDeclare(pool, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatalf("declaring quorum queue %s: %v", pool, err)
	}
	t.Cleanup(func() { deleteQueue(t, pool) })
	// Another transport requeues, so that this one's own count is not what
	// the test sees.
	subs := []transport.Subscription{{Target: tgt, Priority: "info"}}
	first, err := dial(t).ListenNotifications(within(t, 10*time.Second), subs, pool)
	if err != nil {
		t.Fatalf("ListenNotifications on an existing quorum queue = %v", err)
	}
	n := &message.Notification{EventType: "e", Priority: "INFO"}
	if err := dial(t).Notify(within(t, 10*time.Second), tgt, n, transport.QueueLimits{}); err != nil {
		t.Fatalf("Notify = %v", err)
	}
	in, err := first.Next(within(t, 10*time.Second))
	if err != nil {
		t.Fatalf("Next = %v", err)
	}
	if in.Deliveries() != 1 {
		t.Errorf("first Deliveries = %d, want 1", in.Deliveries())
	}
	second, err := dial(t).ListenNotifications(within(t, 10*time.Second), subs, pool)
	if err != nil {
		t.Fatalf("ListenNotifications = %v", err)
	}
	t.Cleanup(func() { second.Close() })
	// Stopped, first takes nothing more but can still requeue.
	if err := first.Stop(); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if err := in.Requeue(); err != nil {
		t.Fatalf("Requeue = %v", err)
	}
	t.Cleanup(func() { first.Close() })
	again, err := second.Next(within(t, 10*time.Second))
	if err != nil {
		t.Fatalf("Next = %v", err)
	}
	if again.Deliveries() != 2 {
		t.Errorf("Deliveries after one requeue, on another transport = %d, want 2 (from x-delivery-count)", again.Deliveries())
	}
	if err := again.Ack(); err != nil {
		t.Errorf("Ack = %v", err)
	}
}

// TestNotifyOnExistingQueue has a peer with amqp_durable_queues declare
// the control exchange and the queue <topic>.info durable first: a
// notifier with the default preset and no limits publishes into them; one
// that asks for limits fails with an error that names them.
func TestNotifyOnExistingQueue(t *testing.T) {
	tgt, queue := notifyTarget(t, "existing")
	ch := rawChannel(t, rawConn(t))
	if err := ch.ExchangeDeclare(tgt.Exchange, "topic", true, false, false, false, nil); err != nil {
		t.Fatalf("ExchangeDeclare = %v", err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatalf("QueueDeclare = %v", err)
	}
	n := &message.Notification{EventType: "e", Priority: "INFO", Payload: []byte(`{}`)}
	if err := dial(t).Notify(within(t, 10*time.Second), tgt, n, transport.QueueLimits{}); err != nil {
		t.Fatalf("Notify into the peer's durable queue = %v", err)
	}
	if q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil); err != nil || q.Messages != 1 {
		t.Errorf("queue %s after Notify = %+v, %v; want 1 message", queue, q, err)
	}
	err := dial(t).Notify(within(t, 10*time.Second), tgt, n, transport.QueueLimits{MaxLength: 10})
	if err == nil || !strings.Contains(err.Error(), "limits") || !strings.Contains(err.Error(), queue) {
		t.Errorf("Notify with limits into the peer's queue = %v, want an error naming the queue and its limits", err)
	}
}
