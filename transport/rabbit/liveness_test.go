package rabbit

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/replywait"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// consumersOf returns the consumer count of queue, read on a channel of
// its own.
func consumersOf(tb testing.TB, conn *amqp.Connection, queue string) int {
	tb.Helper()
	q, err := rawChannel(tb, conn).QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		tb.Fatalf("QueueDeclarePassive(%s) = %v", queue, err)
	}
	return q.Consumers
}

// awaitConsumers waits up to d for queue to have n consumers.
func awaitConsumers(tb testing.TB, conn *amqp.Connection, queue string, n int, d time.Duration) {
	tb.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(d)
	for consumersOf(tb, conn, queue) != n {
		select {
		case <-tick.C:
		case <-timeout:
			tb.Fatalf("queue %s still has %d consumers after %v, want %d", queue, consumersOf(tb, conn, queue), d, n)
		}
	}
}

// TestCallToStoppedServerFailsFast calls queues that outlive their
// servers: a server that stopped (its <topic>.<server> queue stays) and a
// topic queue nobody consumes. The first call ends well before its
// deadline with a *transport.NoConsumerError (published, so the outcome
// is unknown); the next fails before it is published.
func TestCallToStoppedServerFailsFast(t *testing.T) {
	const grace, deadline = time.Second, 30 * time.Second
	client := dial(t, NoConsumerGrace(grace))
	cases := []struct {
		name  string
		setup func(t *testing.T) target.Target
	}{
		{"stopped server", func(t *testing.T) target.Target {
			tgt := serverTarget(t, "stopped")
			server := dial(t)
			lis := listen(t, server, tgt)
			serve(t, lis, func(in transport.Incoming) *message.Reply {
				return &message.Reply{Result: json.RawMessage(`"ok"`)}
			})
			if _, err := client.Call(within(t, 10*time.Second), tgt, &message.Request{Method: "m"}); err != nil {
				t.Fatalf("Call to the live server = %v", err)
			}
			if err := server.Close(); err != nil {
				t.Fatalf("server Close = %v", err)
			}
			return tgt
		}},
		{"topic queue without consumer", func(t *testing.T) target.Target {
			tgt := serverTarget(t, "noconsumer")
			rawTopology(t, tgt)
			return target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tgt := c.setup(t)
			queue := tgt.Topic
			if tgt.Server != "" {
				queue += "." + tgt.Server
			}
			start := time.Now()
			_, err := client.Call(within(t, deadline), tgt, &message.Request{Method: "m"})
			elapsed := time.Since(start)
			var nc *transport.NoConsumerError
			if !errors.As(err, &nc) || nc.Queue != queue || !errors.Is(err, transport.ErrNoRoute) || !errors.Is(err, transport.ErrOutcomeUnknown) {
				t.Fatalf("Call to %v = %v, want a *transport.NoConsumerError for queue %s matching ErrNoRoute and ErrOutcomeUnknown", tgt, err, queue)
			}
			if elapsed > deadline/2 {
				t.Errorf("Call to %v failed after %v, want well before its %v deadline", tgt, elapsed, deadline)
			}
			t.Logf("a call to %s failed after %v (grace %v)", queue, elapsed, grace)
			_, err = client.Call(within(t, deadline), tgt, &message.Request{Method: "m"})
			if !errors.Is(err, transport.ErrNoConsumer) || !errors.Is(err, transport.ErrNotSent) {
				t.Errorf("the next Call to %v = %v, want ErrNoConsumer and ErrNotSent", tgt, err)
			}
		})
	}
}

// TestCallDuringServerReconnect cuts a server's network for less than the
// grace period: its queue has no consumer meanwhile, and a call made then
// is answered once the server reconnected.
func TestCallDuringServerReconnect(t *testing.T) {
	tgt := serverTarget(t, "reconnect")
	relay := startRelay(t)
	server, err := Dial(within(t, 10*time.Second), relayURL(t, relay.Addr()),
		Reconnect(Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}))
	if err != nil {
		t.Fatalf("Dial through the relay = %v", err)
	}
	t.Cleanup(func() { server.Close() })
	serve(t, listen(t, server, tgt), func(in transport.Incoming) *message.Reply {
		return &message.Reply{Result: json.RawMessage(`"ok"`)}
	})
	client := dial(t, NoConsumerGrace(5*time.Second))
	if _, err := client.Call(within(t, 10*time.Second), tgt, &message.Request{Method: "m"}); err != nil {
		t.Fatalf("Call before the outage = %v", err)
	}

	conn := rawConn(t)
	queue := tgt.Topic + "." + tgt.Server
	relay.Cut()
	awaitConsumers(t, conn, queue, 0, 10*time.Second)
	answered := make(chan error, 1)
	go func() {
		_, err := client.Call(within(t, 30*time.Second), tgt, &message.Request{Method: "m"})
		answered <- err
	}()
	// The outage lasts a few reads of the consumer count, well under the
	// grace period.
	<-time.After(3 * probeEvery)
	relay.Resume()
	if err := await(t, answered, 30*time.Second, "reply to the call made during the outage"); err != nil {
		t.Errorf("Call made while the server reconnected = %v, want its reply", err)
	}
}

// TestNoConsumerGraceOff checks that a negative grace turns the check
// off: a call to a queue without consumer waits out its deadline.
func TestNoConsumerGraceOff(t *testing.T) {
	tgt := serverTarget(t, "graceoff")
	server := dial(t)
	listen(t, server, tgt).Close()
	client := dial(t, NoConsumerGrace(-1))
	_, err := client.Call(within(t, time.Second), tgt, &message.Request{Method: "m"})
	if !errors.Is(err, transport.ErrTimeout) {
		t.Errorf("Call with the check off = %v, want ErrTimeout", err)
	}
	if client.live.watched.Load() != 0 {
		t.Errorf("%d queues watched with the check off, want 0", client.live.watched.Load())
	}
}

// BenchmarkRegisterCall measures what the check of a call's queue adds to
// registering its waiter, on the call path: with the queue watched
// already (every call but the first), against a plain registration.
func BenchmarkRegisterCall(b *testing.B) {
	tgt := target.Target{Exchange: "x", Topic: "t", Server: "s1"}
	deadline := time.Now().Add(time.Minute)
	for _, c := range []struct {
		name  string
		grace time.Duration
	}{{"checked", DefaultNoConsumerGrace}, {"unchecked", -1}} {
		b.Run(c.name, func(b *testing.B) {
			t := &Transport{s: defaultSettings(), waiters: replywait.New()}
			t.s.noConsumerGrace = c.grace
			t.live.queues.Store(liveKey{tgt.Topic, tgt.Server}, &queueWatch{exchange: "x", queue: "t.s1"})
			b.RunParallel(func(pb *testing.PB) {
				id := wire.NewID()
				for pb.Next() {
					w, err := t.registerCall(tgt, id, deadline)
					if err != nil {
						b.Fatal(err)
					}
					w.Cancel()
				}
			})
		})
	}
}

// BenchmarkCallChecked makes sequential calls through the broker with the
// check of the queue's consumers on and off.
func BenchmarkCallChecked(b *testing.B) {
	for _, c := range []struct {
		name  string
		grace time.Duration
	}{{"checked", DefaultNoConsumerGrace}, {"unchecked", -1}} {
		b.Run(c.name, func(b *testing.B) {
			tgt := serverTarget(b, "bchecked")
			serve(b, listen(b, dial(b), tgt), func(in transport.Incoming) *message.Reply {
				return &message.Reply{Result: in.Request().Args}
			})
			client := dial(b, NoConsumerGrace(c.grace))
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := client.Call(ctx, tgt, &message.Request{Method: "echo", Args: benchArgs})
				cancel()
				if err != nil {
					b.Fatalf("Call = %v", err)
				}
			}
		})
	}
}
