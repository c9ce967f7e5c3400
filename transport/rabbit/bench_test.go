package rabbit

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

var benchArgs = json.RawMessage(`{"a": 1, "b": "some text", "c": [1, 2, 3]}`)

// benchServer listens on tgt with its own transport and answers calls
// with their args.
func benchServer(b *testing.B, tgt target.Target) {
	server := dial(b)
	lis, err := server.Listen(within(b, 10*time.Second), tgt)
	if err != nil {
		b.Fatalf("Listen = %v", err)
	}
	b.Cleanup(func() { lis.Close() })
	serve(b, lis, func(in transport.Incoming) *transport.Reply {
		return &transport.Reply{Result: in.Request().Args}
	})
}

// BenchmarkCall makes sequential calls through the broker: publish with
// confirm, server receipt and ack, reply with confirm, reply receipt.
func BenchmarkCall(b *testing.B) {
	tgt := serverTarget(b, "bcall")
	benchServer(b, tgt)
	client := dial(b)
	to := target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic}
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := client.Call(ctx, to, &transport.Request{Method: "echo", Args: benchArgs})
		cancel()
		if err != nil {
			b.Fatalf("Call = %v", err)
		}
	}
}

// BenchmarkCast makes sequential casts, each waiting for its confirm, to
// a consuming server.
func BenchmarkCast(b *testing.B) {
	tgt := serverTarget(b, "bcast")
	benchServer(b, tgt)
	client := dial(b)
	to := target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic}
	ctx := context.Background()
	for b.Loop() {
		if err := client.Cast(ctx, to, &transport.Request{Method: "echo", Args: benchArgs}); err != nil {
			b.Fatalf("Cast = %v", err)
		}
	}
}

// rawPeer is hand-written amqp091 code doing what the driver does: a
// confirm-mode publishing channel on one connection and a consuming
// channel with manual acks on another.
type rawPeer struct {
	pub      *amqp.Channel
	confirms chan amqp.Confirmation
	con      *amqp.Channel
}

func newRawPeer(b *testing.B) *rawPeer {
	p := &rawPeer{pub: rawChannel(b, rawConn(b)), con: rawChannel(b, rawConn(b))}
	if err := p.pub.Confirm(false); err != nil {
		b.Fatalf("Confirm = %v", err)
	}
	p.confirms = p.pub.NotifyPublish(make(chan amqp.Confirmation, 1))
	return p
}

// publish publishes mandatory and waits for the confirm.
func (p *rawPeer) publish(b *testing.B, exchange, key string, msg amqp.Publishing) {
	if err := p.pub.Publish(exchange, key, true, false, msg); err != nil {
		b.Fatalf("Publish = %v", err)
	}
	if c := <-p.confirms; !c.Ack {
		b.Fatalf("publish nacked")
	}
}

func (p *rawPeer) consume(b *testing.B, queue string) <-chan amqp.Delivery {
	if err := p.con.Qos(DefaultPrefetch, 0, false); err != nil {
		b.Fatalf("Qos = %v", err)
	}
	d, err := p.con.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		b.Fatalf("Consume = %v", err)
	}
	return d
}

// rawTopology declares tgt's exchange and topic queue from a raw channel.
func rawTopology(b *testing.B, tgt target.Target) {
	ch := rawChannel(b, rawConn(b))
	if err := ch.ExchangeDeclare(tgt.Exchange, "topic", false, false, false, false, nil); err != nil {
		b.Fatalf("ExchangeDeclare = %v", err)
	}
	if _, err := ch.QueueDeclare(tgt.Topic, false, false, false, false, nil); err != nil {
		b.Fatalf("QueueDeclare = %v", err)
	}
	if err := ch.QueueBind(tgt.Topic, tgt.Topic, tgt.Exchange, false, nil); err != nil {
		b.Fatalf("QueueBind = %v", err)
	}
}

// BenchmarkRawCall is the baseline of BenchmarkCall: the same round trip
// written directly against amqp091, with pre-encoded bodies and the same
// properties (expiration included, which costs the broker a little).
func BenchmarkRawCall(b *testing.B) {
	tgt := serverTarget(b, "brawcall")
	rawTopology(b, tgt)
	request, err := wire.EncodeRequest(&transport.Request{Method: "echo", Args: benchArgs, MsgID: wire.NewID(), ReplyTo: "reply_x"})
	if err != nil {
		b.Fatal(err)
	}
	reply, err := wire.EncodeReply(wire.NewID(), &transport.Reply{Result: benchArgs})
	if err != nil {
		b.Fatal(err)
	}

	server := newRawPeer(b)
	requests := server.consume(b, tgt.Topic)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case d := <-requests:
				if err := d.Ack(false); err != nil {
					b.Errorf("Ack = %v", err)
					return
				}
				server.publish(b, "", d.ReplyTo, publishing(wire.NewID(), reply))
			case <-done:
				return
			}
		}
	}()
	b.Cleanup(func() {
		close(done)
		<-stopped
	})

	client := newRawPeer(b)
	replyQ := replyQueueName()
	if err := declareExpiringQueue(client.con, replyQ); err != nil {
		b.Fatalf("QueueDeclare = %v", err)
	}
	b.Cleanup(func() { deleteQueue(b, replyQ) })
	replies := client.consume(b, replyQ)
	msg := publishing("", request)
	msg.ReplyTo = replyQ
	msg.Expiration = "10000"
	for b.Loop() {
		msg.MessageId = wire.NewID()
		client.publish(b, tgt.Exchange, tgt.Topic, msg)
		d := <-replies
		if err := d.Ack(false); err != nil {
			b.Fatalf("Ack = %v", err)
		}
	}
}

// BenchmarkRawCast is the baseline of BenchmarkCast.
func BenchmarkRawCast(b *testing.B) {
	tgt := serverTarget(b, "brawcast")
	rawTopology(b, tgt)
	request, err := wire.EncodeRequest(&transport.Request{Method: "echo", Args: benchArgs})
	if err != nil {
		b.Fatal(err)
	}
	server := newRawPeer(b)
	requests := server.consume(b, tgt.Topic)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case d := <-requests:
				if err := d.Ack(false); err != nil {
					b.Errorf("Ack = %v", err)
					return
				}
			case <-done:
				return
			}
		}
	}()
	b.Cleanup(func() {
		close(done)
		<-stopped
	})
	client := newRawPeer(b)
	msg := publishing("", request)
	for b.Loop() {
		msg.MessageId = wire.NewID()
		client.publish(b, tgt.Exchange, tgt.Topic, msg)
	}
}
