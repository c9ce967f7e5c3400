package rabbit

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// listedQueue is one queue as rabbitmqctl list_queues --formatter json
// shows it.
type listedQueue struct {
	Name       string `json:"name"`
	Durable    bool   `json:"durable"`
	Exclusive  any    `json:"exclusive"` // true, false, or "" for quorum queues
	AutoDelete bool   `json:"auto_delete"`
	Arguments  []any  `json:"arguments"`
}

// listQueues returns the broker's queues as rabbitmqctl lists them. The
// command is WARREN_TEST_RABBITMQCTL, rabbitmqctl by default; it must
// reach the broker the tests use.
func listQueues(t *testing.T) []listedQueue {
	t.Helper()
	ctl := os.Getenv("WARREN_TEST_RABBITMQCTL")
	if ctl == "" {
		ctl = "rabbitmqctl"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ctl, "list_queues", "-q", "--formatter", "json",
		"name", "durable", "exclusive", "auto_delete", "arguments").Output()
	if err != nil {
		t.Fatalf("%s list_queues: %v (set WARREN_TEST_RABBITMQCTL to a rabbitmqctl that reaches the test broker)", ctl, err)
	}
	var qs []listedQueue
	if err := json.Unmarshal(out, &qs); err != nil {
		t.Fatalf("%s list_queues printed %d bytes that are not the JSON list expected: %v", ctl, len(out), err)
	}
	return qs
}

// TestModernPresetDeclaresNoTransientQueue runs calls, casts, fanout
// casts, notifications (a publisher, a pool-less listener and a pool)
// and replies under rabbit_quorum_queue and rabbit_transient_quorum_queue,
// then lists what the broker holds: none of the queues warren declared
// may be transient and non-exclusive, which RabbitMQ 4.3 refuses (541).
// Casts are at-least-once, so the dead-letter queue is among them.
func TestModernPresetDeclaresNoTransientQueue(t *testing.T) {
	tr := dial(t, QueuePreset(Queues{Quorum: true, TransientQuorum: true, QuorumDeliveryLimit: 5}), AtLeastOnce())
	tgt := serverTarget(t, "modern")
	got := make(chan string, 4)
	lis := listen(t, tr, tgt)
	serve(t, lis, func(in transport.Incoming) *message.Reply {
		got <- in.Request().Method
		return &message.Reply{Result: json.RawMessage(`"ok"`)}
	})
	ctx := within(t, 30*time.Second)
	if rep, err := tr.Call(ctx, target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic}, &message.Request{Method: "call"}); err != nil || string(rep.Result) != `"ok"` {
		t.Fatalf("Call = %v, %v; want \"ok\"", rep, err)
	}
	if err := tr.Cast(ctx, tgt, &message.Request{Method: "cast"}); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	if err := tr.Cast(ctx, target.Target{Topic: tgt.Topic, Fanout: true}, &message.Request{Method: "fanout"}); err != nil {
		t.Fatalf("fanout Cast = %v", err)
	}
	var methods []string
	for range 3 {
		methods = append(methods, await(t, got, 10*time.Second, "a request"))
	}
	slices.Sort(methods)
	if want := []string{"call", "cast", "fanout"}; !slices.Equal(methods, want) {
		t.Errorf("server got %v, want %v", methods, want)
	}

	ntgt, nqueue := notifyTarget(t, "modern")
	pool := unique("modern-pool")
	t.Cleanup(func() { deleteQueue(t, pool) })
	subs := []transport.Subscription{{Target: ntgt, Priority: "info"}}
	for _, p := range []string{"", pool} {
		nl, err := tr.ListenNotifications(ctx, subs, p)
		if err != nil {
			t.Fatalf("ListenNotifications(pool %q) = %v", p, err)
		}
		t.Cleanup(func() { nl.Close() })
	}
	n := &message.Notification{PublisherID: "p", EventType: "e", Priority: "INFO", Payload: []byte(`{}`)}
	if err := tr.Notify(ctx, ntgt, n, transport.QueueLimits{}); err != nil {
		t.Fatalf("Notify = %v", err)
	}

	fanoutQ := lis.(*rpcListener).expiring
	ours := []string{tgt.Topic, tgt.Topic + "." + tgt.Server, fanoutQ, tr.replyQ, nqueue, pool, tgt.Exchange + ".dlq"}
	found := 0
	for _, q := range listQueues(t) {
		if !slices.Contains(ours, q.Name) {
			continue
		}
		found++
		t.Logf("%s durable=%v exclusive=%v auto_delete=%v arguments=%v", q.Name, q.Durable, q.Exclusive, q.AutoDelete, q.Arguments)
		if !q.Durable && q.Exclusive != true {
			t.Errorf("queue %s is transient and not exclusive, which RabbitMQ 4.3 refuses", q.Name)
		}
		if !strings.Contains(jsonOf(t, q.Arguments), `"quorum"`) {
			t.Errorf("queue %s has arguments %v, want a quorum queue", q.Name, q.Arguments)
		}
	}
	if found != len(ours) {
		t.Errorf("rabbitmqctl listed %d of warren's %d queues %v", found, len(ours), ours)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%v) = %v", v, err)
	}
	return string(b)
}
