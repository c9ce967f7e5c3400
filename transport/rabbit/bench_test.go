package rabbit

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

var benchArgs = json.RawMessage(`{"a": 1, "b": "some text", "c": [1, 2, 3]}`)

// benchClient starts a server of a new target named after name, on its
// own transport, that answers calls with their args. It returns a client
// transport and the topic target to send to.
func benchClient(b *testing.B, name string) (*Transport, target.Target) {
	tgt := serverTarget(b, name)
	server := dial(b)
	lis := listen(b, server, tgt)
	serve(b, lis, func(in transport.Incoming) *message.Reply {
		return &message.Reply{Result: in.Request().Args}
	})
	return dial(b), target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic}
}

// BenchmarkCall makes sequential calls through the broker: publish with
// confirm, server receipt and ack, reply with confirm, reply receipt.
func BenchmarkCall(b *testing.B) {
	client, to := benchClient(b, "bcall")
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := client.Call(ctx, to, &message.Request{Method: "echo", Args: benchArgs})
		cancel()
		if err != nil {
			b.Fatalf("Call = %v", err)
		}
	}
}

// BenchmarkCast makes sequential casts, each waiting for its confirm, to
// a consuming server.
func BenchmarkCast(b *testing.B) {
	client, to := benchClient(b, "bcast")
	ctx := context.Background()
	for b.Loop() {
		if err := client.Cast(ctx, to, &message.Request{Method: "echo", Args: benchArgs}); err != nil {
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
func (p *rawPeer) publish(exchange, key string, msg amqp.Publishing) error {
	if err := p.pub.Publish(exchange, key, true, false, msg); err != nil {
		return err
	}
	if c := <-p.confirms; !c.Ack {
		return errors.New("publish nacked")
	}
	return nil
}

// consume consumes queue with the driver's prefetch and manual acks.
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

// serve consumes queue until the benchmark ends, acking each delivery and
// then passing it to handle, when not nil.
func (p *rawPeer) serve(b *testing.B, queue string, handle func(amqp.Delivery)) {
	requests := p.consume(b, queue)
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
				if handle != nil {
					handle(d)
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
}

// rawTopology declares tgt's exchange and topic queue from a raw channel.
func rawTopology(b testing.TB, tgt target.Target) {
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
	request, err := wire.EncodeRequest(&message.Request{Method: "echo", Args: benchArgs, MsgID: wire.NewID(), ReplyTo: "reply_x"})
	if err != nil {
		b.Fatal(err)
	}
	reply, err := wire.EncodeReply(wire.NewID(), &message.Reply{Result: benchArgs})
	if err != nil {
		b.Fatal(err)
	}

	server := newRawPeer(b)
	server.serve(b, tgt.Topic, func(d amqp.Delivery) {
		if err := server.publish("", d.ReplyTo, publishing(wire.NewID(), reply)); err != nil {
			b.Errorf("publishing the reply: %v", err)
		}
	})

	client := newRawPeer(b)
	replyQ := topology.ReplyQueue()
	if err := (Queues{}).declareExpiring(client.con, replyQ); err != nil {
		b.Fatalf("QueueDeclare = %v", err)
	}
	b.Cleanup(func() { deleteQueue(b, replyQ) })
	replies := client.consume(b, replyQ)
	msg := publishing("", request)
	msg.ReplyTo = replyQ
	msg.Expiration = "10000"
	for b.Loop() {
		msg.MessageId = wire.NewID()
		if err := client.publish(tgt.Exchange, tgt.Topic, msg); err != nil {
			b.Fatalf("publishing the request: %v", err)
		}
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
	request, err := wire.EncodeRequest(&message.Request{Method: "echo", Args: benchArgs})
	if err != nil {
		b.Fatal(err)
	}
	newRawPeer(b).serve(b, tgt.Topic, nil)
	client := newRawPeer(b)
	msg := publishing("", request)
	for b.Loop() {
		msg.MessageId = wire.NewID()
		if err := client.publish(tgt.Exchange, tgt.Topic, msg); err != nil {
			b.Fatalf("publishing the request: %v", err)
		}
	}
}
