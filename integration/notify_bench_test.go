package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/notify"
)

// benchInFlight is how many notifications the benchmarks keep awaiting
// their broker confirm at once.
const benchInFlight = 64

// benchPayload is the payload of every benchmark notification: a small
// Nova-style instance payload.
var benchPayload = map[string]any{
	"nova_object.name": "InstanceActionPayload",
	"nova_object.data": map[string]any{"uuid": "00000000-0000-4000-8000-000000000001", "state": "active", "host": "host1"},
}

// BenchmarkNotify measures notifications published with confirms, 64 in
// flight, and consumed (acked after a handler) by a listener on RabbitMQ,
// beside hand-written amqp091-go code doing the same, in the same run:
//
//	go test -run NONE -bench Notify -benchtime 20000x ./integration/
//
// ns/op is the time per notification from the first publish until the
// last one was consumed; msgs/s is its inverse.
func BenchmarkNotify(b *testing.B) {
	b.Run("warren", benchWarrenNotify)
	b.Run("amqp091", benchRawNotify)
}

// publishAll calls publish b.N times from benchInFlight goroutines.
func publishAll(b *testing.B, publish func(ctx context.Context) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchInFlight {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				err := publish(ctx)
				cancel()
				if err != nil {
					b.Errorf("publish: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// awaitCount waits until count reached n, failing after waitLimit without
// progress.
func awaitCount(b *testing.B, count *atomic.Int64, progress <-chan struct{}, n int64) {
	for count.Load() < n {
		select {
		case <-progress:
		case <-time.After(waitLimit):
			b.Fatalf("consumed %d of %d notifications", count.Load(), n)
		}
	}
}

func benchWarrenNotify(b *testing.B) {
	bs := notifyBus(b, "bench-notify")
	var consumed atomic.Int64
	progress := make(chan struct{}, 1)
	l, err := notify.NewListener(dial(b), bs.notifyTargets(), []notify.Endpoint{{
		Handlers: map[notify.Priority]notify.Handler{notify.Info: notify.HandlerFunc(func(context.Context, *notify.Notification) error {
			consumed.Add(1)
			select {
			case progress <- struct{}{}:
			default:
			}
			return nil
		})},
	}})
	if err != nil {
		b.Fatal(err)
	}
	runListener(b, l)
	n := bs.notifier(b, "bench.host1")
	b.ReportAllocs()
	b.ResetTimer()
	publishAll(b, func(ctx context.Context) error {
		return n.Info(ctx, nil, "compute.instance.update", benchPayload)
	})
	awaitCount(b, &consumed, progress, int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// benchRawNotify publishes the same bytes with amqp091-go alone: one
// confirm-mode channel, deferred confirms, 64 in flight, on one
// connection; a consumer on another connection with prefetch 64 acks each
// message.
func benchRawNotify(b *testing.B) {
	bs := notifyBus(b, "bench-raw")
	queue := bs.Topic + ".info"
	body, err := wire.EncodeNotification(&message.Notification{
		PublisherID: "bench.host1", EventType: "compute.instance.update", Priority: "INFO",
		Payload: benchPayloadJSON(b),
	})
	if err != nil {
		b.Fatal(err)
	}
	pubConn, conConn := rawDial(b), rawDial(b)
	pub, err := pubConn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if err := pub.ExchangeDeclare(bs.Exchange, amqp.ExchangeTopic, false, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	if _, err := pub.QueueDeclare(queue, false, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	if err := pub.QueueBind(queue, queue, bs.Exchange, false, nil); err != nil {
		b.Fatal(err)
	}
	if err := pub.Confirm(false); err != nil {
		b.Fatal(err)
	}
	con, err := conConn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if err := con.Qos(benchInFlight, 0, false); err != nil {
		b.Fatal(err)
	}
	deliveries, err := con.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	var consumed atomic.Int64
	progress := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for d := range deliveries {
			if err := d.Ack(false); err != nil {
				b.Errorf("Ack: %v", err)
				return
			}
			consumed.Add(1)
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}()
	b.Cleanup(func() {
		_ = con.Close()
		<-done
	})
	b.ReportAllocs()
	b.ResetTimer()
	publishAll(b, func(ctx context.Context) error {
		dc, err := pub.PublishWithDeferredConfirmWithContext(ctx, bs.Exchange, queue, true, false, amqp.Publishing{
			ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: amqp.Persistent,
			MessageId: wire.NewID(), Body: body,
		})
		if err != nil {
			return err
		}
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			return fmt.Errorf("confirm: ack %v, %v", ok, err)
		}
		return nil
	})
	awaitCount(b, &consumed, progress, int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// rawDial opens a plain amqp091 connection, closed with the benchmark.
func rawDial(b *testing.B) *amqp.Connection {
	conn, err := amqp.Dial(brokerURL())
	if err != nil {
		b.Fatalf("amqp.Dial: %v", err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}

func benchPayloadJSON(b *testing.B) json.RawMessage {
	raw, err := json.Marshal(benchPayload)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}
