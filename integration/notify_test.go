package integration_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenrpc/warren/notify"
	"github.com/warrenrpc/warren/target"
)

// notifyBus is a bus whose topic serves as a notification topic: it
// deletes the <topic>.<priority> queues and the given pools at the end.
func notifyBus(t testing.TB, name string, pools ...string) *bus {
	t.Helper()
	b := newBus(t, name)
	for _, p := range notify.Priorities() {
		b.forgetQueue(b.Topic + "." + string(p))
	}
	for _, p := range pools {
		b.forgetQueue(p)
	}
	return b
}

func (b *bus) notifyTargets() []target.Target {
	return []target.Target{{Exchange: b.Exchange, Topic: b.Topic}}
}

func (b *bus) notifier(t testing.TB, publisherID string, opts ...notify.Option) *notify.Notifier {
	opts = append([]notify.Option{notify.Topics(b.Topic), notify.Exchange(b.Exchange)}, opts...)
	return notify.NewNotifier(dial(t), publisherID, opts...)
}

// runListener serves l until the test ends; it listens before returning.
func runListener(t testing.TB, l *notify.Listener) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := l.Listen(ctx); err != nil {
		t.Fatalf("Listen = %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown = %v", err)
		}
		if err := <-done; !errors.Is(err, notify.ErrListenerClosed) {
			t.Errorf("Serve = %v, want ErrListenerClosed", err)
		}
	})
}

// seqPayload is the payload of the Go-side tests.
type seqPayload struct {
	Seq   int    `json:"seq"`
	State string `json:"state"`
}

// got is one notification a handler saw.
type got struct {
	who string
	n   *notify.Notification
	seq int
}

func recordTo(ch chan<- got, who string) notify.Handler {
	return notify.Typed(func(ctx context.Context, n *notify.Notification, p seqPayload) error {
		select {
		case ch <- got{who, n, p.Seq}:
		case <-ctx.Done():
		}
		return nil
	})
}

func awaitGot(t *testing.T, ch <-chan got, what string) got {
	t.Helper()
	select {
	case g := <-ch:
		return g
	case <-time.After(waitLimit):
		t.Fatalf("no %s within %v", what, waitLimit)
		panic("unreachable")
	}
}

func quiet(t *testing.T, ch <-chan got, what string) {
	t.Helper()
	select {
	case g := <-ch:
		t.Errorf("%s: got %s seq %d from %s", what, g.n.EventType, g.seq, g.who)
	case <-time.After(500 * time.Millisecond):
	}
}

// TestNotifyPools: 2 pools x 2 listeners on RabbitMQ: each notification
// is seen once per pool, and both listeners of a pool take part.
func TestNotifyPools(t *testing.T) {
	b := notifyBus(t, "npools")
	pools := []string{b.Topic + "-billing", b.Topic + "-audit"}
	for _, p := range pools {
		b.forgetQueue(p)
	}
	ch := make(chan got, 200)
	for _, p := range pools {
		for i := range 2 {
			l, err := notify.NewListener(dial(t), b.notifyTargets(), []notify.Endpoint{{
				Handlers: map[notify.Priority]notify.Handler{notify.Info: recordTo(ch, fmt.Sprintf("%s/%d", p, i))},
			}}, notify.Pool(p))
			if err != nil {
				t.Fatal(err)
			}
			runListener(t, l)
		}
	}
	n := b.notifier(t, "compute.go1")
	const count = 40
	for i := range count {
		if err := n.Info(withTimeout(t, waitLimit), nil, "compute.instance.update", seqPayload{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]map[int]int{}
	perListener := map[string]int{}
	for range 2 * count {
		g := awaitGot(t, ch, "notification")
		pool := g.who[:strings.LastIndex(g.who, "/")]
		if seen[pool] == nil {
			seen[pool] = map[int]int{}
		}
		seen[pool][g.seq]++
		perListener[g.who]++
	}
	quiet(t, ch, "after every pool saw every notification")
	for _, p := range pools {
		for i := range count {
			if seen[p][i] != 1 {
				t.Errorf("pool %s saw notification %d %d times, want 1", p, i, seen[p][i])
			}
		}
	}
	if len(perListener) != 4 {
		t.Errorf("notifications per listener = %v, want all four listeners to take part", perListener)
	}
}

// TestNotifyFilters: endpoints see only what their filter selects.
func TestNotifyFilters(t *testing.T) {
	b := notifyBus(t, "nfilter")
	ch := make(chan got, 20)
	l, err := notify.NewListener(dial(t), b.notifyTargets(), []notify.Endpoint{
		{
			Filter:   notify.Filter{EventType: `compute\.instance\.create\.`, Payload: map[string]string{"state": "^active$"}},
			Handlers: map[notify.Priority]notify.Handler{notify.Info: recordTo(ch, "create-active")},
		},
		{
			Filter:   notify.Filter{PublisherID: `^network\.`, Context: map[string]string{"project_id": "^p1$"}},
			Handlers: map[notify.Priority]notify.Handler{notify.Info: recordTo(ch, "network-p1")},
		},
	}, notify.Ordered())
	if err != nil {
		t.Fatal(err)
	}
	runListener(t, l)
	compute, network := b.notifier(t, "compute.go1"), b.notifier(t, "network.go1")
	p1 := map[string]any{"project_id": "p1"}
	sends := []struct {
		n         *notify.Notifier
		ctx       map[string]any
		eventType string
		p         seqPayload
		want      string
	}{
		{compute, nil, "compute.instance.create.end", seqPayload{1, "active"}, "create-active"},
		{compute, nil, "compute.instance.create.end", seqPayload{2, "error"}, ""},
		{compute, nil, "compute.instance.delete.end", seqPayload{3, "active"}, ""},
		{network, p1, "port.create.end", seqPayload{4, ""}, "network-p1"},
		{network, map[string]any{"project_id": "p2"}, "port.create.end", seqPayload{5, ""}, ""},
		{compute, p1, "port.create.end", seqPayload{6, ""}, ""},
	}
	for _, s := range sends {
		if err := s.n.Info(withTimeout(t, waitLimit), s.ctx, s.eventType, s.p); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range sends {
		if s.want == "" {
			continue
		}
		g := awaitGot(t, ch, "notification "+s.want)
		if g.who != s.want || g.seq != s.p.Seq {
			t.Errorf("got seq %d at %s, want seq %d at %s", g.seq, g.who, s.p.Seq, s.want)
		}
	}
	quiet(t, ch, "filtered out")
}

// TestNotifyRequeue: a failing handler gets the notification again with
// its delivery count, at most MaxRequeues times more, and the listener
// goes on.
func TestNotifyRequeue(t *testing.T) {
	b := notifyBus(t, "nrequeue")
	calls := make(chan got, 20)
	l, err := notify.NewListener(dial(t), b.notifyTargets(), []notify.Endpoint{{
		Handlers: map[notify.Priority]notify.Handler{notify.Info: notify.HandlerFunc(func(_ context.Context, n *notify.Notification) error {
			calls <- got{n: n}
			switch n.EventType {
			case "flaky":
				if n.Deliveries == 1 {
					return notify.ErrRequeue
				}
			case "broken":
				panic("always")
			}
			return nil
		})},
	}}, notify.MaxRequeues(2), notify.Ordered())
	if err != nil {
		t.Fatal(err)
	}
	runListener(t, l)
	n := b.notifier(t, "go1")
	for _, e := range []string{"flaky", "broken", "fine"} {
		if err := n.Info(withTimeout(t, waitLimit), nil, e, nil); err != nil {
			t.Fatal(err)
		}
	}
	var trace []string
	for range 2 + 3 + 1 {
		g := awaitGot(t, calls, "handler call")
		trace = append(trace, fmt.Sprintf("%s#%d", g.n.EventType, g.n.Deliveries))
	}
	quiet(t, calls, "after the requeues ran out")
	// Requeued messages go back to the head of a RabbitMQ queue, so the
	// calls of one event come in order but may interleave with others.
	for _, want := range [][]string{{"flaky#1", "flaky#2"}, {"broken#1", "broken#2", "broken#3"}, {"fine#1"}} {
		var have []string
		for _, c := range trace {
			if strings.HasPrefix(c, strings.Split(want[0], "#")[0]+"#") {
				have = append(have, c)
			}
		}
		if !slices.Equal(have, want) {
			t.Errorf("calls %v: want %v among them, in order", trace, want)
		}
	}
}

// TestNotifyBatches: full batches come at once, a partial one after the
// timeout.
func TestNotifyBatches(t *testing.T) {
	b := notifyBus(t, "nbatch")
	batches := make(chan []int, 10)
	l, err := notify.NewBatchListener(dial(t), b.notifyTargets(), []notify.BatchEndpoint{{
		Handlers: map[notify.Priority]notify.BatchHandler{notify.Info: notify.BatchHandlerFunc(func(_ context.Context, ns []*notify.Notification) error {
			var seqs []int
			for _, n := range ns {
				var p seqPayload
				if err := n.Decode(&p); err != nil {
					return err
				}
				seqs = append(seqs, p.Seq)
			}
			batches <- seqs
			return nil
		})},
	}}, 10, 500*time.Millisecond, notify.Ordered())
	if err != nil {
		t.Fatal(err)
	}
	runListener(t, l)
	n := b.notifier(t, "go1")
	var sent time.Time // before the first notification of the partial batch
	for i := range 23 {
		if i == 20 {
			sent = time.Now()
		}
		if err := n.Info(withTimeout(t, waitLimit), nil, "e", seqPayload{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	var all []int
	var sizes []int
	for len(all) < 23 {
		select {
		case bt := <-batches:
			sizes = append(sizes, len(bt))
			all = append(all, bt...)
		case <-time.After(waitLimit):
			t.Fatalf("batches so far %v, want 23 notifications", sizes)
		}
	}
	if !slices.Equal(sizes, []int{10, 10, 3}) {
		t.Errorf("batch sizes = %v, want [10 10 3]", sizes)
	}
	for i, s := range all {
		if s != i {
			t.Errorf("batches carried %v, want 0..22 in order", all)
			break
		}
	}
	if waited := time.Since(sent); waited < 500*time.Millisecond {
		t.Errorf("the partial batch came %v after its first notification was sent, before its 500ms timeout", waited)
	}
}

// TestNotifyQueueLimits: a publisher's limits reach the broker, and a
// pool-less listener uses the queue as it is instead of failing with 406.
func TestNotifyQueueLimits(t *testing.T) {
	b := notifyBus(t, "nlimits")
	n := b.notifier(t, "go1", notify.QueueLimits(5, time.Minute))
	for i := range 12 {
		if err := n.Info(withTimeout(t, waitLimit), nil, "e", seqPayload{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	ch := make(chan got, 20)
	l, err := notify.NewListener(dial(t), b.notifyTargets(), []notify.Endpoint{{
		Handlers: map[notify.Priority]notify.Handler{notify.Info: recordTo(ch, "l")},
	}}, notify.Ordered())
	if err != nil {
		t.Fatal(err)
	}
	runListener(t, l)
	for want := 7; want < 12; want++ {
		if g := awaitGot(t, ch, "notification"); g.seq != want {
			t.Errorf("got seq %d, want %d: the queue keeps the newest five", g.seq, want)
		}
	}
	quiet(t, ch, "beyond the length limit")
	other := b.notifier(t, "go2", notify.QueueLimits(6, 0))
	err = other.Info(withTimeout(t, waitLimit), nil, "e", nil)
	if err == nil || !strings.Contains(err.Error(), "exists with other arguments") {
		t.Errorf("Info with other limits = %v, want an error saying the queue exists with other arguments", err)
	}
}

// pyNotification is one line of oslo_notify_listener.py.
type pyNotification struct {
	Priority    string         `json:"priority"`
	Ctxt        map[string]any `json:"ctxt"`
	PublisherID string         `json:"publisher_id"`
	EventType   string         `json:"event_type"`
	Payload     any            `json:"payload"`
	Metadata    struct {
		MessageID string `json:"message_id"`
		Timestamp string `json:"timestamp"`
	} `json:"metadata"`
}

// TestNotifyPythonToGo: notifications from a Python oslo.messaging
// Notifier reach a Go listener with payload and context intact.
func TestNotifyPythonToGo(t *testing.T) {
	b := notifyBus(t, "npy2go")
	ch := make(chan got, 20)
	l, err := notify.NewListener(dial(t), b.notifyTargets(), []notify.Endpoint{{
		Handlers: map[notify.Priority]notify.Handler{
			notify.Info:  notify.HandlerFunc(func(_ context.Context, n *notify.Notification) error { ch <- got{who: "info", n: n}; return nil }),
			notify.Error: notify.HandlerFunc(func(_ context.Context, n *notify.Notification) error { ch <- got{who: "error", n: n}; return nil }),
		},
	}}, notify.Ordered())
	if err != nil {
		t.Fatal(err)
	}
	runListener(t, l)
	py := startPeer(t, "oslo_notifier.py", osloURL(t), b.Exchange, b.Topic, "2")
	py.waitLine(t, "DONE", 45*time.Second, func(s string) bool { return s == "DONE" })
	var infos, errs []*notify.Notification
	for range 4 {
		g := awaitGot(t, ch, "notification from Python")
		if g.who == "info" {
			infos = append(infos, g.n)
		} else {
			errs = append(errs, g.n)
		}
	}
	if len(infos) != 2 || len(errs) != 2 {
		t.Fatalf("got %d INFO and %d ERROR, want 2 each", len(infos), len(errs))
	}
	for i, n := range infos {
		if n.PublisherID != "compute.py1" || n.EventType != "compute.instance.create.end" || n.Priority != notify.Info {
			t.Errorf("INFO %d: %q %q %q", i, n.PublisherID, n.EventType, n.Priority)
		}
		var p struct {
			Name string `json:"nova_object.name"`
			Data struct {
				UUID   string `json:"uuid"`
				State  string
				Flavor struct {
					VCPUs    int `json:"vcpus"`
					MemoryMB int `json:"memory_mb"`
				}
			} `json:"nova_object.data"`
			Seq  int
			Note string
		}
		if err := n.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Name != "InstanceActionPayload" || p.Data.UUID != fmt.Sprintf("u-%d", i) || p.Data.State != "active" ||
			p.Data.Flavor.VCPUs != 2 || p.Data.Flavor.MemoryMB != 512 || p.Seq != i || p.Note != "h\u00e9llo \u2603" {
			t.Errorf("INFO %d payload = %+v (raw %s)", i, p, n.Payload)
		}
		want := map[string]any{"request_id": fmt.Sprintf("req-py-%d", i), "user": "py-user", "roles": []any{"admin", "member"}}
		if !reflect.DeepEqual(n.Context, want) {
			t.Errorf("INFO %d context = %v, want %v", i, n.Context, want)
		}
		if len(n.MessageID) != 36 || time.Since(n.Timestamp) > time.Minute || n.Timestamp.After(time.Now().Add(time.Second)) {
			t.Errorf("INFO %d message id %q, timestamp %v", i, n.MessageID, n.Timestamp)
		}
	}
	for _, n := range errs {
		var p map[string]any
		if err := n.Decode(&p); err != nil || !maps.Equal(p, map[string]any{"seq": p["seq"], "fault": nil}) || n.EventType != "compute.instance.create.error" {
			t.Errorf("ERROR payload %s (%v), event %s", n.Payload, err, n.EventType)
		}
	}
}

// TestNotifyGoToPython: notifications from a Go notifier reach a Python
// oslo.messaging NotificationListener with payload and context intact.
func TestNotifyGoToPython(t *testing.T) {
	b := notifyBus(t, "ngo2py")
	py := startPeer(t, "oslo_notify_listener.py", osloURL(t), b.Exchange, b.Topic, "-")
	py.waitReady(t)
	n := b.notifier(t, "compute.go1")
	reqCtx := map[string]any{"request_id": "req-go-1", "user": "go-user", "is_admin": true, "roles": []string{"reader"}}
	payload := map[string]any{
		"nova_object.name": "InstanceActionPayload",
		"nova_object.data": map[string]any{"uuid": "u-go", "flavor": map[string]any{"vcpus": 4}},
		"note":             "h\u00e9llo \u2603",
		"ratio":            0.5,
	}
	if err := n.Info(withTimeout(t, waitLimit), reqCtx, "compute.instance.create.end", payload); err != nil {
		t.Fatal(err)
	}
	if err := n.Error(withTimeout(t, waitLimit), reqCtx, "compute.instance.create.error", map[string]any{"fault": "boom"}); err != nil {
		t.Fatal(err)
	}
	read := func(priority string) pyNotification {
		line := py.waitLine(t, priority+" notification", waitLimit, func(s string) bool {
			var p pyNotification
			return json.Unmarshal([]byte(s), &p) == nil && p.Priority == priority
		})
		var p pyNotification
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	info := read("info")
	if info.PublisherID != "compute.go1" || info.EventType != "compute.instance.create.end" {
		t.Errorf("Python got %q %q", info.PublisherID, info.EventType)
	}
	wantPayload := map[string]any{
		"nova_object.name": "InstanceActionPayload",
		"nova_object.data": map[string]any{"uuid": "u-go", "flavor": map[string]any{"vcpus": 4.0}},
		"note":             "h\u00e9llo \u2603",
		"ratio":            0.5,
	}
	if !reflect.DeepEqual(info.Payload, wantPayload) {
		t.Errorf("Python payload = %v, want %v", info.Payload, wantPayload)
	}
	wantCtx := map[string]any{"request_id": "req-go-1", "user": "go-user", "is_admin": true, "roles": []any{"reader"}}
	// oslo's AMQP listener adds the call-monitor key of RPC requests,
	// null for a notification.
	if v, ok := info.Ctxt["client_timeout"]; ok && v == nil {
		delete(info.Ctxt, "client_timeout")
	}
	if !reflect.DeepEqual(info.Ctxt, wantCtx) {
		t.Errorf("Python context = %v, want %v", info.Ctxt, wantCtx)
	}
	if len(info.Metadata.MessageID) != 36 || len(info.Metadata.Timestamp) < len("2006-01-02 15:04:05") {
		t.Errorf("Python metadata = %+v", info.Metadata)
	}
	if e := read("error"); e.EventType != "compute.instance.create.error" || !reflect.DeepEqual(e.Payload, map[string]any{"fault": "boom"}) {
		t.Errorf("Python ERROR = %+v", e)
	}
}

// TestNotifySharedPoolWithPython: a Go and a Python listener in one pool
// share its notifications: each is handled once, by one of them.
func TestNotifySharedPoolWithPython(t *testing.T) {
	pool := unique(t, "npool")
	b := notifyBus(t, "nshared", pool)
	py := startPeer(t, "oslo_notify_listener.py", osloURL(t), b.Exchange, b.Topic, pool)
	py.waitReady(t)
	ch := make(chan got, 100)
	l, err := notify.NewListener(dial(t), b.notifyTargets(), []notify.Endpoint{{
		Handlers: map[notify.Priority]notify.Handler{notify.Info: recordTo(ch, "go")},
	}}, notify.Pool(pool))
	if err != nil {
		t.Fatal(err)
	}
	runListener(t, l)
	n := b.notifier(t, "go1")
	const count = 40
	for i := range count {
		if err := n.Info(withTimeout(t, waitLimit), nil, "e", seqPayload{Seq: i}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[int]string{}
	add := func(seq int, who string) {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := seen[seq]; ok {
			t.Errorf("notification %d handled by %s and %s", seq, prev, who)
		}
		seen[seq] = who
	}
	deadline := time.Now().Add(waitLimit)
	pyDone := map[int]bool{}
	for len(seen) < count && time.Now().Before(deadline) {
		select {
		case g := <-ch:
			add(g.seq, "go")
		case <-time.After(100 * time.Millisecond):
		}
		py.mu.Lock()
		lines := slices.Clone(py.lines)
		py.mu.Unlock()
		for i, line := range lines {
			var p pyNotification
			if pyDone[i] || json.Unmarshal([]byte(line), &p) != nil || p.Priority == "" {
				continue
			}
			pyDone[i] = true
			seq, _ := p.Payload.(map[string]any)["seq"].(float64)
			add(int(seq), "python")
		}
	}
	if len(seen) != count {
		t.Fatalf("handled %d of %d notifications", len(seen), count)
	}
	byWho := map[string]int{}
	for _, who := range seen {
		byWho[who]++
	}
	if byWho["go"] == 0 || byWho["python"] == 0 {
		t.Errorf("handled by %v: want both listeners of the pool to take part", byWho)
	}
}
