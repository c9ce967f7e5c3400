package rabbit

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// streamPreset is rabbit_stream_fanout with what oslo.messaging requires
// beside it.
var streamPreset = Queues{TransientQuorum: true, StreamFanout: true}

// TestStreamFanoutMatchesOslo checks the stream fanout queue's arguments
// and the fanout exchange against oslo.messaging's source (HEAD, 18.x):
// impl_rabbit._get_queue_arguments replaces every argument with
// {'x-queue-type': 'stream'} and adds 'x-max-age': f"{ttl}s" when
// rabbit_transient_queues_ttl > 0; declare_fanout_consumer declares the
// queue <topic>_fanout durable (rabbit_transient_quorum_queue or
// rabbit_stream_fanout), auto-delete false, and the exchange <topic>_fanout
// fanout, durable, auto-delete true, as fanout_send does
// (durable=rabbit_transient_quorum_queue, which stream fanout requires).
func TestStreamFanoutMatchesOslo(t *testing.T) {
	cases := []struct {
		name string
		q    Queues
		want amqp.Table
	}{
		{"default ttl", streamPreset, amqp.Table{"x-queue-type": "stream", "x-max-age": "1800s"}},
		{"ttl 60", Queues{TransientQuorum: true, StreamFanout: true, TransientQueuesTTL: time.Minute},
			amqp.Table{"x-queue-type": "stream", "x-max-age": "60s"}},
		{"ttl 0", Queues{TransientQuorum: true, StreamFanout: true, TransientQueuesTTL: -1},
			amqp.Table{"x-queue-type": "stream"}},
		{"quorum limits dropped", Queues{Quorum: true, TransientQuorum: true, StreamFanout: true, QuorumDeliveryLimit: 5, QuorumMaxMemoryLength: 9},
			amqp.Table{"x-queue-type": "stream", "x-max-age": "1800s"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.q.streamArgs(); !maps.Equal(got, c.want) {
				t.Errorf("%+v.streamArgs() = %v, want %v", c.q, got, c.want)
			}
			want := exchangeDecl{name: "calc_fanout", kind: "fanout", durable: true, autoDelete: true}
			if got := c.q.fanoutExchange("calc_fanout"); got != want {
				t.Errorf("%+v.fanoutExchange = %+v, want %+v", c.q, got, want)
			}
		})
	}
	if got := topology.StreamFanoutQueue("calc"); got != "calc_fanout" {
		t.Errorf("StreamFanoutQueue(calc) = %q, want calc_fanout", got)
	}
	reason := "PRECONDITION_FAILED - inequivalent arg 'x-max-age' for queue 'calc_fanout' in vhost '/': received '60s' but current is '1800s'"
	if err := declareError(&amqp.Error{Code: amqp.PreconditionFailed, Reason: reason}); !strings.Contains(err.Error(), "rabbit_transient_queues_ttl") {
		t.Errorf("declareError(%q) = %v, want it to name rabbit_transient_queues_ttl", reason, err)
	}
}

// TestStreamAndQueueManagerOptions reads the options by oslo.messaging's
// names, from the URL query and from QueryOptions (what
// transport.Config.Options, WARREN_TRANSPORT_OPTIONS, gives), and refuses
// stream fanout without what oslo.messaging requires with it.
func TestStreamAndQueueManagerOptions(t *testing.T) {
	cases := []struct {
		name  string
		query string
		code  map[string]string
		want  Queues
		err   string // what the error says; "" for none
	}{
		{"stream", "rabbit_stream_fanout=true&rabbit_transient_quorum_queue=true", nil, streamPreset, ""},
		{"queue manager", "use_queue_manager=yes&hostname=node1&processname=nova-api", nil,
			Queues{QueueManager: true, Hostname: "node1", ProcessName: "nova-api"}, ""},
		{"from code", "", map[string]string{"rabbit_stream_fanout": "1", "rabbit_transient_quorum_queue": "1", "use_queue_manager": "true"},
			Queues{TransientQuorum: true, StreamFanout: true, QueueManager: true}, ""},
		{"url over code", "use_queue_manager=false", map[string]string{"use_queue_manager": "true"}, Queues{}, ""},
		{"stream without transient quorum", "rabbit_stream_fanout=true", nil, Queues{}, "needs rabbit_transient_quorum_queue"},
		{"stream without prefetch", "rabbit_stream_fanout=true&rabbit_transient_quorum_queue=true&rabbit_qos_prefetch_count=0", nil, Queues{}, "needs a prefetch"},
		{"not a boolean", "use_queue_manager=maybe", nil, Queues{}, "use_queue_manager"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := transport.ParseURL("amqp://h/?" + c.query)
			if err != nil {
				t.Fatalf("ParseURL = %v", err)
			}
			s := defaultSettings()
			QueryOptions(c.code)(&s)
			err = s.applyURL(u)
			if err == nil {
				err = s.validate()
			}
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("applyURL(%q) = %v", c.query, err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("applyURL(%q) = %v, want an error saying %q", c.query, err, c.err)
			case c.err == "" && s.queues != c.want:
				t.Errorf("applyURL(%q) preset = %+v, want %+v", c.query, s.queues, c.want)
			}
		})
	}
}

// TestQueueManagerNames checks the names use_queue_manager gives, as
// oslo.messaging's QManager builds them (<host>:<process>:<n>, host from
// socket.gethostname(), process the base name of sys.argv[0]).
func TestQueueManagerNames(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatalf("os.Hostname = %v", err)
	}
	if h, p := (Queues{}).managerNames(); h != host || p != filepath.Base(os.Args[0]) {
		t.Errorf("managerNames() = %q, %q; want %q, %q", h, p, host, filepath.Base(os.Args[0]))
	}
	if h, p := (Queues{Hostname: "node1", ProcessName: "nova-api"}).managerNames(); h != "node1" || p != "nova-api" {
		t.Errorf("managerNames() = %q, %q; want node1, nova-api", h, p)
	}
	id := topology.ManagedID("node1", "nova-api", 3)
	for got, want := range map[string]string{
		id:                                      "node1:nova-api:3",
		topology.ManagedReplyQueue(id):          "reply_node1:nova-api:3",
		topology.ManagedFanoutQueue("calc", id): "calc_fanout_node1:nova-api:3",
	} {
		if got != want {
			t.Errorf("name = %q, want %q", got, want)
		}
	}
	k := managedKey{unique("host"), "p", "reply_"}
	if a, b := nextManaged(k), nextManaged(k); a != 1 || b != 2 {
		t.Errorf("nextManaged = %d then %d, want 1 then 2", a, b)
	}
}

// streamTarget returns a server target whose stream fanout queue is
// deleted when the test ends, after the listeners that the test opens
// later are closed.
func streamTarget(t testing.TB, name string) target.Target {
	tgt := serverTarget(t, name)
	t.Cleanup(func() { deleteQueue(t, topology.StreamFanoutQueue(tgt.Topic)) })
	return tgt
}

// methods serves lis and sends the method of each request it receives to
// the channel returned.
func methods(t testing.TB, lis transport.Listener) <-chan string {
	got := make(chan string, 16)
	serve(t, lis, func(in transport.Incoming) *message.Reply {
		got <- in.Request().Method
		return &message.Reply{Result: json.RawMessage(`"ok"`)}
	})
	return got
}

// TestStreamFanout runs fanout casts through the stream every server of a
// topic shares: a server that starts listening after a cast does not get
// it, every server gets the casts sent after, an oslo.messaging peer's
// declarations of the queue and exchange are accepted (and one with
// another x-max-age refused, proving the broker compared it), and the
// stream outlives its listeners.
func TestStreamFanout(t *testing.T) {
	tgt := streamTarget(t, "stream")
	fanout := target.Target{Topic: tgt.Topic, Fanout: true}
	ctx := within(t, 30*time.Second)
	a := methods(t, listen(t, dial(t, QueuePreset(streamPreset)), tgt))
	client := dial(t, QueuePreset(streamPreset))
	if err := client.Cast(ctx, fanout, &message.Request{Method: "old"}); err != nil {
		t.Fatalf("fanout Cast = %v", err)
	}
	if m := await(t, a, 10*time.Second, "fanout cast on the first server"); m != "old" {
		t.Fatalf("first server got %q, want old", m)
	}
	b := methods(t, listen(t, dial(t, QueuePreset(streamPreset)), tgt))
	if err := client.Cast(ctx, fanout, &message.Request{Method: "new"}); err != nil {
		t.Fatalf("fanout Cast = %v", err)
	}
	if m := await(t, b, 10*time.Second, "fanout cast on the second server"); m != "new" {
		t.Errorf("the server that listened after cast old got %q first, want new", m)
	}
	if m := await(t, a, 10*time.Second, "second fanout cast on the first server"); m != "new" {
		t.Errorf("first server got %q, want new", m)
	}
	// A call reaches one server and answers through the transient quorum
	// reply queue.
	if rep, err := client.Call(ctx, target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic}, &message.Request{Method: "call"}); err != nil || string(rep.Result) != `"ok"` {
		t.Errorf("Call = %v, %v; want \"ok\"", rep, err)
	}

	conn := rawConn(t)
	stream := topology.StreamFanoutQueue(tgt.Topic)
	oslo := []declaration{
		queueDeclaration("stream", stream, true, false, amqp.Table{"x-queue-type": "stream", "x-max-age": "1800s"}),
		exchangeDeclaration("fanout exchange", tgt.Topic+"_fanout", "fanout", true, true),
	}
	for _, d := range oslo {
		if err := d.declare(rawChannel(t, conn)); err != nil {
			t.Errorf("declaring the %s as oslo.messaging does = %v", d.name, err)
		}
	}
	flipped := []declaration{
		queueDeclaration("stream with another x-max-age", stream, true, false, amqp.Table{"x-queue-type": "stream", "x-max-age": "60s"}),
		exchangeDeclaration("fanout exchange not durable", tgt.Topic+"_fanout", "fanout", false, true),
	}
	for _, d := range flipped {
		if err := d.declare(rawChannel(t, conn)); !isPreconditionFailed(err) {
			t.Errorf("declaring the %s = %v, want 406 PRECONDITION_FAILED", d.name, err)
		}
	}
	if _, err := rawChannel(t, conn).QueueDeclarePassive(stream, true, false, false, false, nil); err != nil {
		t.Errorf("the stream %s is gone while servers listen: %v", stream, err)
	}
	// A server whose TTL differs from the stream's declarer consumes the
	// stream as it is.
	other := methods(t, listen(t, dial(t, QueuePreset(Queues{TransientQuorum: true, StreamFanout: true, TransientQueuesTTL: time.Minute})), tgt))
	if err := client.Cast(ctx, fanout, &message.Request{Method: "third"}); err != nil {
		t.Fatalf("fanout Cast = %v", err)
	}
	if m := await(t, other, 10*time.Second, "fanout cast on the server with another TTL"); m != "third" {
		t.Errorf("the server with another TTL got %q, want third", m)
	}
}

// TestStreamFanoutResumesAfterLostConnection cuts a server's connection:
// the fanout cast sent while it was cut is delivered after the reconnect
// (the consumer resumes after the last offset it received), and none is
// delivered twice.
func TestStreamFanoutResumesAfterLostConnection(t *testing.T) {
	tgt := streamTarget(t, "streamlost")
	fanout := target.Target{Topic: tgt.Topic, Fanout: true}
	relay := startRelay(t)
	states := newStateRecorder()
	var dups atomic.Int32
	server, err := Dial(within(t, 10*time.Second), relayURL(t, relay.Addr()), QueuePreset(streamPreset), states.option(),
		Reconnect(Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}),
		OnDrop(func(d transport.Drop) {
			if d.Reason == transport.DropDuplicate {
				dups.Add(1)
			}
		}))
	if err != nil {
		t.Fatalf("Dial through the relay = %v", err)
	}
	t.Cleanup(func() { server.Close() })
	got := methods(t, listen(t, server, tgt))
	client := dial(t, QueuePreset(streamPreset))
	ctx := within(t, 30*time.Second)
	cast := func(m string) {
		t.Helper()
		if err := client.Cast(ctx, fanout, &message.Request{Method: m}); err != nil {
			t.Fatalf("fanout Cast(%s) = %v", m, err)
		}
	}
	cast("before")
	if m := await(t, got, 10*time.Second, "fanout cast before the cut"); m != "before" {
		t.Fatalf("got %q, want before", m)
	}
	relay.Cut()
	states.await(t, StateConnecting, 10*time.Second)
	cast("during")
	relay.Resume()
	states.await(t, StateReady, 10*time.Second)
	cast("after")
	var seen []string
	for range 2 {
		seen = append(seen, await(t, got, 10*time.Second, "fanout cast after the reconnect"))
	}
	if want := []string{"during", "after"}; !slices.Equal(seen, want) {
		t.Errorf("after the reconnect the server got %v, want %v", seen, want)
	}
	if n := dups.Load(); n != 0 {
		t.Errorf("the server got %d fanout casts again after the reconnect (dropped as duplicates), want 0", n)
	}
}

// TestStreamFanoutInvalidMessage publishes a body that is not a request
// to the stream: the server drops it (acked, since RabbitMQ closes the
// connection on a reject on a stream) on the same connection, and takes
// the next cast, also in at-least-once mode, where fanout casts read from
// a stream stay at-most-once.
func TestStreamFanoutInvalidMessage(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"at-most-once", []Option{QueuePreset(streamPreset)}},
		{"at-least-once", []Option{QueuePreset(Queues{Durable: true, TransientQuorum: true, StreamFanout: true}), AtLeastOnce()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tgt := streamTarget(t, "streambad")
			var rejected atomic.Int32
			server := dial(t, append(c.opts, OnDrop(func(d transport.Drop) {
				if d.Reason == transport.DropRejected {
					rejected.Add(1)
				}
			}))...)
			got := make(chan string, 16)
			serve(t, listen(t, server, tgt), func(in transport.Incoming) *message.Reply {
				if _, ok := in.(transport.Settler); ok {
					got <- "a transport.Settler" // the stream could not take it back
					return nil
				}
				got <- in.Request().Method
				return nil
			})
			sess := server.sess.Load()
			ch := rawChannel(t, rawConn(t))
			if err := ch.Publish(tgt.Topic+"_fanout", "", false, false, amqp.Publishing{ContentType: contentType, Body: []byte("not json")}); err != nil {
				t.Fatalf("Publish = %v", err)
			}
			if err := dial(t, QueuePreset(streamPreset)).Cast(within(t, 10*time.Second), target.Target{Topic: tgt.Topic, Fanout: true}, &message.Request{Method: "valid"}); err != nil {
				t.Fatalf("fanout Cast = %v", err)
			}
			if m := await(t, got, 10*time.Second, "the cast after the invalid message"); m != "valid" {
				t.Errorf("got %q, want valid", m)
			}
			if n := rejected.Load(); n != 1 {
				t.Errorf("OnDrop heard of %d rejected messages, want 1", n)
			}
			if server.sess.Load() != sess || sess.down() {
				t.Errorf("the server's connection was replaced after the invalid message")
			}
		})
	}
}

// TestQueueManager names the reply and fanout queues as use_queue_manager
// does: <host>:<process>:<n>; a second process with the same names skips
// the queues the first holds; closing leaves the queues; a restarted
// process takes them up again, with the fanout casts sent meanwhile.
func TestQueueManager(t *testing.T) {
	host := unique("qm")
	preset := Queues{QueueManager: true, Hostname: host, ProcessName: "svc"}
	tgt := serverTarget(t, "qm")
	fanoutQ := func(n int) string {
		return topology.ManagedFanoutQueue(tgt.Topic, topology.ManagedID(host, "svc", n))
	}
	replyQ := func(n int) string { return topology.ManagedReplyQueue(topology.ManagedID(host, "svc", n)) }
	t.Cleanup(func() {
		for _, q := range []string{fanoutQ(1), fanoutQ(2), replyQ(1), replyQ(2)} {
			deleteQueue(t, q)
		}
	})
	// restart makes this test's names count from 1 again, as in a new
	// process.
	restart := func() {
		managedNames.Lock()
		defer managedNames.Unlock()
		for k := range managedNames.last {
			if k.host == host {
				delete(managedNames.last, k)
			}
		}
	}
	ctx := within(t, 60*time.Second)
	type run struct {
		tr  *Transport
		lis transport.Listener
		got <-chan string
	}
	start := func() run {
		tr := dial(t, QueuePreset(preset))
		lis := listen(t, tr, tgt)
		r := run{tr, lis, methods(t, lis)}
		if _, err := tr.Call(ctx, target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic}, &message.Request{Method: "call"}); err != nil {
			t.Fatalf("Call = %v", err)
		}
		return r
	}
	queuesOf := func(r run) []string { return []string{r.lis.(*rpcListener).specs[2].name, r.tr.replyQ} }

	first := start()
	if got, want := queuesOf(first), []string{fanoutQ(1), replyQ(1)}; !slices.Equal(got, want) {
		t.Errorf("first process's queues = %v, want %v", got, want)
	}
	if m := await(t, first.got, 10*time.Second, "the call"); m != "call" {
		t.Errorf("got %q, want call", m)
	}
	restart()
	second := start()
	if got, want := queuesOf(second), []string{fanoutQ(2), replyQ(2)}; !slices.Equal(got, want) {
		t.Errorf("a second process with the same names has queues %v, want %v (the first holds :1)", got, want)
	}

	if err := first.tr.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	conn := rawConn(t)
	for _, q := range queuesOf(first) {
		if _, err := rawChannel(t, conn).QueueDeclarePassive(q, false, false, false, false, nil); err != nil {
			t.Errorf("queue %s after Close: %v, want it kept", q, err)
		}
	}
	if err := second.tr.Cast(ctx, target.Target{Topic: tgt.Topic, Fanout: true}, &message.Request{Method: "meanwhile"}); err != nil {
		t.Fatalf("fanout Cast = %v", err)
	}
	restart()
	third := start()
	if got, want := queuesOf(third), []string{fanoutQ(1), replyQ(1)}; !slices.Equal(got, want) {
		t.Errorf("the restarted process's queues = %v, want %v", got, want)
	}
	// The call went to the second or the third server.
	var seen []string
	for len(seen) < 2 && !slices.Contains(seen, "meanwhile") {
		seen = append(seen, await(t, third.got, 10*time.Second, "the fanout cast sent while the server was down"))
	}
}

// TestModernStreamPresetDeclaresNoTransientQueue runs calls, casts and
// fanout casts under the modern preset with stream fanout and the queue
// manager, then lists the broker's queues: none of warren's is transient
// and non-exclusive (RabbitMQ 4.3 refuses those); the fanout queue is the
// durable stream, the others quorum queues. Notification queues do not
// depend on these two options (TestModernPresetDeclaresNoTransientQueue).
func TestModernStreamPresetDeclaresNoTransientQueue(t *testing.T) {
	host := unique("modernqm")
	// Deleted after the transport closed, which leaves it.
	replyQ := topology.ManagedReplyQueue(topology.ManagedID(host, "svc", 1))
	t.Cleanup(func() { deleteQueue(t, replyQ) })
	tr := dial(t, QueuePreset(Queues{Quorum: true, TransientQuorum: true, StreamFanout: true, QueueManager: true, Hostname: host, ProcessName: "svc"}))
	tgt := streamTarget(t, "modernstream")
	got := methods(t, listen(t, tr, tgt))
	ctx := within(t, 30*time.Second)
	if _, err := tr.Call(ctx, target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic}, &message.Request{Method: "call"}); err != nil {
		t.Fatalf("Call = %v", err)
	}
	for _, c := range []target.Target{tgt, {Topic: tgt.Topic, Fanout: true}} {
		if err := tr.Cast(ctx, c, &message.Request{Method: "cast"}); err != nil {
			t.Fatalf("Cast(%v) = %v", c, err)
		}
	}
	for range 3 {
		await(t, got, 10*time.Second, "a request")
	}
	want := map[string]string{
		tgt.Topic:                             `"quorum"`,
		tgt.Topic + "." + tgt.Server:          `"quorum"`,
		replyQ:                                `"quorum"`,
		topology.StreamFanoutQueue(tgt.Topic): `"stream"`,
	}
	found := 0
	for _, q := range listQueues(t) {
		kind, ok := want[q.Name]
		if !ok {
			continue
		}
		found++
		t.Logf("%s durable=%v exclusive=%v auto_delete=%v arguments=%v", q.Name, q.Durable, q.Exclusive, q.AutoDelete, q.Arguments)
		if !q.Durable && q.Exclusive != true {
			t.Errorf("queue %s is transient and not exclusive, which RabbitMQ 4.3 refuses", q.Name)
		}
		if !strings.Contains(jsonOf(t, q.Arguments), kind) {
			t.Errorf("queue %s has arguments %v, want x-queue-type %s", q.Name, q.Arguments, kind)
		}
	}
	if found != len(want) {
		t.Errorf("rabbitmqctl listed %d of warren's %d queues %v", found, len(want), slices.Collect(maps.Keys(want)))
	}
}

// BenchmarkFanoutCast makes sequential fanout casts to two servers, each
// waiting for its confirm and for both servers to receive it: through a
// fanout queue per server (classic, or quorum under
// rabbit_transient_quorum_queue), and through the stream they share.
func BenchmarkFanoutCast(b *testing.B) {
	for _, c := range []struct {
		name   string
		preset Queues
	}{{"classic", Queues{}}, {"quorum", Queues{TransientQuorum: true}}, {"stream", streamPreset}} {
		b.Run(c.name, func(b *testing.B) {
			tgt := streamTarget(b, "bfanout")
			servers := []<-chan string{
				methods(b, listen(b, dial(b, QueuePreset(c.preset)), tgt)),
				methods(b, listen(b, dial(b, QueuePreset(c.preset)), tgt)),
			}
			client := dial(b, QueuePreset(c.preset))
			to := target.Target{Topic: tgt.Topic, Fanout: true}
			ctx := context.Background()
			for b.Loop() {
				if err := client.Cast(ctx, to, &message.Request{Method: "echo", Args: benchArgs}); err != nil {
					b.Fatalf("Cast = %v", err)
				}
				for _, got := range servers {
					await(b, got, 10*time.Second, "the fanout cast")
				}
			}
		})
	}
}
