package transporttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// notifier returns a new transport of the harness, for its notifications.
func (e *env) notifier() transport.Notifications {
	e.t.Helper()
	return e.h.New(e.t)
}

// notifyTarget is the case's notification target: its exchange, and its
// topic as the notification topic.
func (e *env) notifyTarget() target.Target {
	return target.Target{Exchange: e.exchange, Topic: e.topic}
}

// sub is a subscription to priority on the case's notification target.
func (e *env) sub(priority string) transport.Subscription {
	return transport.Subscription{Target: e.notifyTarget(), Priority: priority}
}

// forgetQueue has the harness delete queue name when the case ends.
func (e *env) forgetQueue(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.forget = append(e.forget, target.Target{Exchange: e.exchange, Topic: name})
}

// listenNotifications opens a transport and listens for subs in pool.
func (e *env) listenNotifications(pool string, subs ...transport.Subscription) transport.NotificationListener {
	e.t.Helper()
	for _, s := range subs {
		e.forgetQueue(topology.NotificationKey(s.Target.Topic, s.Priority))
	}
	if pool != "" {
		e.forgetQueue(pool)
	}
	lis, err := e.notifier().ListenNotifications(e.ctx(10*time.Second), subs, pool)
	if err != nil {
		e.t.Fatalf("ListenNotifications(%v, %q) = %v", subs, pool, err)
	}
	e.t.Cleanup(func() { lis.Close() })
	return lis
}

// notify publishes a notification of priority with event type and a
// payload holding seq.
func (e *env) notify(tr transport.Notifications, priority, eventType string, seq int) {
	e.t.Helper()
	e.forgetQueue(e.topic + "." + priority)
	n := &message.Notification{
		PublisherID: "compute.host1",
		EventType:   eventType,
		Priority:    priority,
		Payload:     mustJSON(e.t, map[string]any{"seq": seq}),
		Context:     map[string]any{"request_id": fmt.Sprintf("req-%d", seq)},
	}
	if err := tr.Notify(e.ctx(10*time.Second), e.notifyTarget(), n, transport.QueueLimits{}); err != nil {
		e.t.Fatalf("Notify(%s %s) = %v", priority, eventType, err)
	}
}

// next returns the next notification of lis within d, failing the test.
func (e *env) next(lis transport.NotificationListener, d time.Duration) transport.IncomingNotification {
	e.t.Helper()
	in, err := lis.Next(e.ctx(d))
	if err != nil {
		e.t.Fatalf("Next = %v", err)
	}
	return in
}

// seqOf decodes the seq of a payload sent by notify.
func seqOf(t *testing.T, n *message.Notification) int {
	t.Helper()
	var p struct{ Seq int }
	if err := json.Unmarshal(n.Payload, &p); err != nil {
		t.Fatalf("payload %s: %v", n.Payload, err)
	}
	return p.Seq
}

// silent checks that lis hands out nothing within d.
func (e *env) silent(lis transport.NotificationListener, d time.Duration, what string) {
	e.t.Helper()
	in, err := lis.Next(e.ctx(d))
	if err == nil {
		e.t.Errorf("%s: got %s %s, want nothing", what, in.Notification().EventType, in.Notification().Payload)
		return
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		e.t.Errorf("%s: Next = %v, want the ctx's deadline", what, err)
	}
}

func testNotify(t *testing.T, e *env) {
	lis := e.listenNotifications("", e.sub("info"))
	pub := e.notifier()
	n := &message.Notification{
		PublisherID: "compute.host1",
		EventType:   "compute.instance.create.end",
		Priority:    "INFO",
		Payload:     mustJSON(t, map[string]any{"id": 42, "name": "vm1", "tags": []string{"a"}}),
		Context:     map[string]any{"request_id": "req-3", "is_admin": true},
	}
	before := time.Now().Add(-time.Second)
	if err := pub.Notify(e.ctx(10*time.Second), e.notifyTarget(), n, transport.QueueLimits{}); err != nil {
		t.Fatalf("Notify = %v", err)
	}
	in := e.next(lis, 10*time.Second)
	got := in.Notification()
	if got.PublisherID != n.PublisherID || got.EventType != n.EventType || got.Priority != "INFO" {
		t.Errorf("got publisher %q, event %q, priority %q; want %q, %q, INFO", got.PublisherID, got.EventType, got.Priority, n.PublisherID, n.EventType)
	}
	if !jsonEqual(got.Payload, n.Payload) {
		t.Errorf("payload = %s, want %s", got.Payload, n.Payload)
	}
	if !maps.Equal(got.Context, n.Context) {
		t.Errorf("context = %v, want %v", got.Context, n.Context)
	}
	if len(got.MessageID) != 36 || got.UniqueID == "" {
		t.Errorf("message id %q, unique id %q: want a dashed UUID and an id", got.MessageID, got.UniqueID)
	}
	if got.Timestamp.Before(before) || got.Timestamp.After(time.Now().Add(time.Second)) {
		t.Errorf("timestamp %v is not about now", got.Timestamp)
	}
	if in.Deliveries() != 1 {
		t.Errorf("Deliveries = %d, want 1", in.Deliveries())
	}
	if err := in.Ack(); err != nil {
		t.Errorf("Ack = %v", err)
	}
}

// testNotifyWaitsForListener: the publisher declares the priority's
// queue, so a notification sent before anyone listens waits there.
func testNotifyWaitsForListener(t *testing.T, e *env) {
	e.notify(e.notifier(), "warn", "disk.low", 7)
	lis := e.listenNotifications("", e.sub("warn"))
	in := e.next(lis, 10*time.Second)
	if seq := seqOf(t, in.Notification()); seq != 7 {
		t.Errorf("seq = %d, want 7", seq)
	}
	if err := in.Ack(); err != nil {
		t.Errorf("Ack = %v", err)
	}
}

// testNotifyPriorities: a listener gets the priorities it subscribed to
// and no other.
func testNotifyPriorities(t *testing.T, e *env) {
	lis := e.listenNotifications("", e.sub("info"), e.sub("error"))
	pub := e.notifier()
	e.notify(pub, "debug", "x.debug", 1)
	e.notify(pub, "info", "x.info", 2)
	e.notify(pub, "error", "x.error", 3)
	got := map[string]bool{}
	for range 2 {
		in := e.next(lis, 10*time.Second)
		got[in.Notification().Priority] = true
		if err := in.Ack(); err != nil {
			t.Errorf("Ack = %v", err)
		}
	}
	if !got["INFO"] || !got["ERROR"] {
		t.Errorf("priorities = %v, want INFO and ERROR", got)
	}
	e.silent(lis, 300*time.Millisecond, "a DEBUG notification nobody subscribed to")
}

// testNotifyPools: two pools of two listeners each, and a listener in no
// pool: each notification reaches one listener of each pool, and the
// pool-less one.
func testNotifyPools(t *testing.T, e *env) {
	const n = 20
	pools := map[string][]transport.NotificationListener{}
	for _, p := range []string{e.topic + "-billing", e.topic + "-audit"} {
		pools[p] = []transport.NotificationListener{
			e.listenNotifications(p, e.sub("info")),
			e.listenNotifications(p, e.sub("info")),
		}
	}
	pools[""] = []transport.NotificationListener{e.listenNotifications("", e.sub("info"))}
	pub := e.notifier()
	for i := range n {
		e.notify(pub, "info", "x.info", i)
	}
	type seen struct {
		pool     string
		listener int
		seq      int
	}
	ch := make(chan seen, 4*n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var running int
	for p, ls := range pools {
		for i, lis := range ls {
			running++
			go func() {
				defer func() { done <- struct{}{} }()
				for {
					in, err := lis.Next(ctx)
					if err != nil {
						return
					}
					ch <- seen{p, i, seqOf(t, in.Notification())}
					if err := in.Ack(); err != nil {
						t.Errorf("Ack = %v", err)
					}
				}
			}()
		}
	}
	counts := map[string]map[int]int{}
	per := map[string][]int{}
	for range 3 * n {
		s := await(t, ch, 10*time.Second, "notification")
		if counts[s.pool] == nil {
			counts[s.pool] = map[int]int{}
			per[s.pool] = make([]int, 2)
		}
		counts[s.pool][s.seq]++
		per[s.pool][s.listener]++
	}
	cancel()
	for range running {
		<-done
	}
	select {
	case s := <-ch:
		t.Errorf("extra notification %+v", s)
	default:
	}
	for p := range pools {
		for i := range n {
			if counts[p][i] != 1 {
				t.Errorf("pool %q saw notification %d %d times, want once", p, i, counts[p][i])
			}
		}
	}
	for _, p := range []string{e.topic + "-billing", e.topic + "-audit"} {
		if slices.Contains(per[p], 0) {
			t.Errorf("pool %q: per listener %v: want both listeners to get some", p, per[p])
		}
	}
}

// testNotifyRequeue: a requeued notification comes back, counted, and an
// acked one does not.
func testNotifyRequeue(t *testing.T, e *env) {
	lis := e.listenNotifications("", e.sub("info"))
	e.notify(e.notifier(), "info", "x.info", 1)
	in := e.next(lis, 10*time.Second)
	if err := in.Requeue(); err != nil {
		t.Fatalf("Requeue = %v", err)
	}
	again := e.next(lis, 10*time.Second)
	if seq := seqOf(t, again.Notification()); seq != 1 {
		t.Errorf("redelivered seq = %d, want 1", seq)
	}
	if again.Notification().MessageID != in.Notification().MessageID {
		t.Errorf("redelivered message id %q, want %q", again.Notification().MessageID, in.Notification().MessageID)
	}
	if again.Deliveries() != 2 {
		t.Errorf("Deliveries after one requeue = %d, want 2", again.Deliveries())
	}
	if err := again.Ack(); err != nil {
		t.Fatalf("Ack = %v", err)
	}
	e.silent(lis, 300*time.Millisecond, "an acked notification")
}

// testNotifyCloseRequeues: what a listener took and did not ack goes to
// another listener of the queue when it closes.
func testNotifyCloseRequeues(t *testing.T, e *env) {
	pool := e.topic + "-pool"
	first := e.listenNotifications(pool, e.sub("info"))
	e.notify(e.notifier(), "info", "x.info", 5)
	in := e.next(first, 10*time.Second)
	second := e.listenNotifications(pool, e.sub("info"))
	if err := first.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := in.Ack(); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Ack after Close = %v, want ErrClosed", err)
	}
	got := e.next(second, 10*time.Second)
	if seq := seqOf(t, got.Notification()); seq != 5 {
		t.Errorf("seq = %d, want 5", seq)
	}
	if got.Deliveries() < 2 {
		t.Errorf("Deliveries = %d, want at least 2", got.Deliveries())
	}
	if err := got.Ack(); err != nil {
		t.Errorf("Ack = %v", err)
	}
}

// testNotifyStopThenAck: after Stop, Next ends and what it handed out can
// still be acked; nothing comes back.
func testNotifyStopThenAck(t *testing.T, e *env) {
	pool := e.topic + "-pool"
	lis := e.listenNotifications(pool, e.sub("info"))
	e.notify(e.notifier(), "info", "x.info", 3)
	in := e.next(lis, 10*time.Second)
	if err := lis.Stop(); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if _, err := lis.Next(e.ctx(5 * time.Second)); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Next after Stop = %v, want ErrClosed", err)
	}
	if err := in.Ack(); err != nil {
		t.Errorf("Ack after Stop = %v", err)
	}
	if err := lis.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	other := e.listenNotifications(pool, e.sub("info"))
	e.silent(other, 300*time.Millisecond, "a notification acked after Stop")
}

// testNotifyBadInput: missing topic, priority or subscriptions fail
// clearly.
func testNotifyBadInput(t *testing.T, e *env) {
	tr := e.notifier()
	ctx := e.ctx(5 * time.Second)
	n := &message.Notification{EventType: "x", Priority: "INFO"}
	if err := tr.Notify(ctx, target.Target{}, n, transport.QueueLimits{}); !errors.Is(err, target.ErrInvalid) {
		t.Errorf("Notify without topic = %v, want target.ErrInvalid", err)
	}
	if err := tr.Notify(ctx, e.notifyTarget(), &message.Notification{EventType: "x"}, transport.QueueLimits{}); err == nil {
		t.Error("Notify without priority = nil, want an error")
	}
	if _, err := tr.ListenNotifications(ctx, nil, ""); !errors.Is(err, target.ErrInvalid) {
		t.Errorf("ListenNotifications(nil) = %v, want target.ErrInvalid", err)
	}
	bad := []transport.Subscription{{Target: e.notifyTarget()}}
	if _, err := tr.ListenNotifications(ctx, bad, ""); !errors.Is(err, target.ErrInvalid) {
		t.Errorf("ListenNotifications without priority = %v, want target.ErrInvalid", err)
	}
}
