package rabbit

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// declaration is one broker object declared from a raw channel.
type declaration struct {
	name    string
	declare func(ch *amqp.Channel) error
}

func exchangeDeclaration(name, exchange, kind string, durable, autoDelete bool) declaration {
	return declaration{name, func(ch *amqp.Channel) error {
		return ch.ExchangeDeclare(exchange, kind, durable, autoDelete, false, false, nil)
	}}
}

func queueDeclaration(name, queue string, durable, autoDelete bool, args amqp.Table) declaration {
	return declaration{name, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(queue, durable, autoDelete, false, false, args)
		return err
	}}
}

var osloExpires = amqp.Table{"x-expires": int32(1800000)}

// osloTopology lists what oslo.messaging 14 declares for server tgt, with
// its exact flags (fixtures/oslo-wire/README.md), given the fanout and
// reply queue names.
func osloTopology(tgt target.Target, fanoutQ, replyQ string) []declaration {
	return []declaration{
		exchangeDeclaration("control-exchange", tgt.Exchange, "topic", false, false),
		exchangeDeclaration("fanout-exchange", tgt.Topic+"_fanout", "fanout", false, true),
		queueDeclaration("topic-queue", tgt.Topic, false, false, nil),
		queueDeclaration("server-queue", tgt.Topic+"."+tgt.Server, false, false, nil),
		queueDeclaration("fanout-queue", fanoutQ, false, false, osloExpires),
		queueDeclaration("reply-queue", replyQ, false, false, osloExpires),
	}
}

func isPreconditionFailed(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed
}

// TestTopologyMatchesOslo declares, after the driver, every object with
// oslo.messaging's flags (which must be accepted) and with each flag
// flipped (which must fail with 406 PRECONDITION_FAILED, proving the
// broker compared that flag).
func TestTopologyMatchesOslo(t *testing.T) {
	tgt := serverTarget(t, "topo")
	tr := dial(t)
	lis := listen(t, tr, tgt)
	replyQ, err := tr.replyQueue(within(t, 10*time.Second))
	if err != nil {
		t.Fatalf("replyQueue = %v", err)
	}
	fanoutQ := lis.(*rpcListener).expiring
	conn := rawConn(t)

	for _, d := range osloTopology(tgt, fanoutQ, replyQ) {
		t.Run("oslo/"+d.name, func(t *testing.T) {
			if err := d.declare(rawChannel(t, conn)); err != nil {
				t.Errorf("declaring the %s with oslo.messaging's flags = %v, want success", d.name, err)
			}
		})
	}

	server := tgt.Topic + "." + tgt.Server
	flipped := []declaration{
		exchangeDeclaration("control-exchange-durable", tgt.Exchange, "topic", true, false),
		exchangeDeclaration("control-exchange-auto-delete", tgt.Exchange, "topic", false, true),
		exchangeDeclaration("control-exchange-direct", tgt.Exchange, "direct", false, false),
		exchangeDeclaration("fanout-exchange-not-auto-delete", tgt.Topic+"_fanout", "fanout", false, false),
		exchangeDeclaration("fanout-exchange-durable", tgt.Topic+"_fanout", "fanout", true, true),
		queueDeclaration("topic-queue-durable", tgt.Topic, true, false, nil),
		queueDeclaration("topic-queue-expires", tgt.Topic, false, false, osloExpires),
		queueDeclaration("server-queue-durable", server, true, false, nil),
		queueDeclaration("server-queue-expires", server, false, false, osloExpires),
		queueDeclaration("fanout-queue-durable", fanoutQ, true, false, osloExpires),
		queueDeclaration("fanout-queue-other-expiry", fanoutQ, false, false, amqp.Table{"x-expires": int32(60000)}),
		queueDeclaration("reply-queue-durable", replyQ, true, false, osloExpires),
		queueDeclaration("reply-queue-other-expiry", replyQ, false, false, amqp.Table{"x-expires": int32(60000)}),
	}
	for _, d := range flipped {
		t.Run("flipped/"+d.name, func(t *testing.T) {
			if err := d.declare(rawChannel(t, conn)); !isPreconditionFailed(err) {
				t.Errorf("declaring %s = %v, want 406 PRECONDITION_FAILED", d.name, err)
			}
		})
	}
}

// TestTopologyOsloFirst lets an oslo.messaging peer declare the topology
// first; the driver must listen, publish and reply on it without 406.
func TestTopologyOsloFirst(t *testing.T) {
	tgt := serverTarget(t, "oslofirst")
	conn := rawConn(t)
	ch := rawChannel(t, conn)
	osloFanoutQ := tgt.Topic + "_fanout_0123456789abcdef0123456789abcdef"
	for _, d := range osloTopology(tgt, osloFanoutQ, "reply_0123456789abcdef0123456789abcdef") {
		if err := d.declare(ch); err != nil {
			t.Fatalf("oslo-style declare of the %s = %v", d.name, err)
		}
	}
	t.Cleanup(func() {
		for _, q := range []string{osloFanoutQ, "reply_0123456789abcdef0123456789abcdef"} {
			if _, err := rawChannel(t, conn).QueueDelete(q, false, false, false); err != nil {
				t.Errorf("QueueDelete(%s) = %v", q, err)
			}
		}
	})
	binds := [][3]string{
		{tgt.Topic, tgt.Topic, tgt.Exchange},
		{tgt.Topic + "." + tgt.Server, tgt.Topic + "." + tgt.Server, tgt.Exchange},
		{osloFanoutQ, tgt.Topic, tgt.Topic + "_fanout"},
	}
	for _, b := range binds {
		if err := ch.QueueBind(b[0], b[1], b[2], false, nil); err != nil {
			t.Fatalf("QueueBind(%v) = %v", b, err)
		}
	}

	server := dial(t)
	lis, err := server.Listen(within(t, 10*time.Second), tgt)
	if err != nil {
		t.Fatalf("Listen on an oslo-declared topology = %v", err)
	}
	defer lis.Close()
	serve(t, lis, func(in transport.Incoming) *message.Reply {
		return &message.Reply{Result: json.RawMessage(`"ok"`)}
	})
	client := dial(t)
	for _, to := range []target.Target{{Exchange: tgt.Exchange, Topic: tgt.Topic}, tgt} {
		rep, err := client.Call(within(t, 10*time.Second), to, &message.Request{Method: "m"})
		if err != nil || string(rep.Result) != `"ok"` {
			t.Errorf("Call(%v) on an oslo-declared topology = %v, %v; want \"ok\"", to, rep, err)
		}
	}
	fan := target.Target{Topic: tgt.Topic, Fanout: true}
	if err := client.Cast(within(t, 10*time.Second), fan, &message.Request{Method: "m"}); err != nil {
		t.Errorf("fanout Cast on an oslo-declared topology = %v", err)
	}
}

// presetTopology lists what oslo.messaging declares for server tgt under
// preset q (impl_rabbit.py: declare_topic_consumer and
// declare_fanout_consumer, _get_queue_arguments; for TransientQuorum the
// newer oslo.messaging's, as OSLO-REFERENCE.md describes it), with its
// exact flags. The memory limits apply to reply queues too; the test
// presets with TransientQuorum set the delivery limit only.
func presetTopology(q Queues, tgt target.Target, fanoutQ, replyQ string) []declaration {
	durable := q.Durable || q.Quorum
	var shared amqp.Table
	if q.Quorum {
		shared = amqp.Table{"x-queue-type": "quorum"}
		if q.QuorumDeliveryLimit > 0 {
			shared["x-delivery-limit"] = int32(q.QuorumDeliveryLimit)
		}
		if q.QuorumMaxMemoryLength > 0 {
			shared["x-max-in-memory-length"] = int32(q.QuorumMaxMemoryLength)
		}
		if q.QuorumMaxMemoryBytes > 0 {
			shared["x-max-in-memory-bytes"] = int32(q.QuorumMaxMemoryBytes)
		}
	}
	expires := amqp.Table{}
	if q.TransientQuorum {
		expires["x-queue-type"] = "quorum"
		if q.QuorumDeliveryLimit > 0 {
			expires["x-delivery-limit"] = int32(q.QuorumDeliveryLimit)
		}
	}
	switch {
	case q.TransientQueuesTTL == 0:
		expires["x-expires"] = int32(1800000)
	case q.TransientQueuesTTL > 0:
		expires["x-expires"] = int32(q.TransientQueuesTTL.Milliseconds())
	}
	if len(expires) == 0 {
		expires = nil
	}
	return []declaration{
		exchangeDeclaration("control-exchange", tgt.Exchange, "topic", durable, q.AutoDelete),
		exchangeDeclaration("fanout-exchange", tgt.Topic+"_fanout", "fanout", q.TransientQuorum, true),
		queueDeclaration("topic-queue", tgt.Topic, durable, q.AutoDelete, shared),
		queueDeclaration("server-queue", tgt.Topic+"."+tgt.Server, durable, q.AutoDelete, shared),
		queueDeclaration("fanout-queue", fanoutQ, q.TransientQuorum, false, expires),
		queueDeclaration("reply-queue", replyQ, q.TransientQuorum, false, expires),
	}
}

// TestTopologyPresets checks each queue preset against what
// oslo.messaging declares with the same options: the same declarations
// are accepted after warren's, the control exchange and topic queue with
// durable flipped are refused with 406, and calls and casts go through.
func TestTopologyPresets(t *testing.T) {
	presets := []struct {
		name string
		q    Queues
	}{
		{"durable", Queues{Durable: true}},
		{"durable auto-delete", Queues{Durable: true, AutoDelete: true}},
		{"quorum", Queues{Quorum: true}},
		{"quorum with limits", Queues{Quorum: true, QuorumDeliveryLimit: 3, QuorumMaxMemoryLength: 100, QuorumMaxMemoryBytes: 1 << 20}},
		{"transient ttl", Queues{TransientQueuesTTL: time.Minute}},
		{"no transient ttl", Queues{TransientQueuesTTL: -1}},
		{"modern", Queues{Quorum: true, TransientQuorum: true, QuorumDeliveryLimit: 5}},
	}
	conn := rawConn(t)
	for _, p := range presets {
		t.Run(p.name, func(t *testing.T) {
			tgt := serverTarget(t, "preset")
			tr := dial(t, QueuePreset(p.q))
			lis := listen(t, tr, tgt)
			handled := make(chan string, 1)
			serve(t, lis, func(in transport.Incoming) *message.Reply {
				if in.Request().Method == "cast" {
					handled <- "cast"
				}
				return &message.Reply{Result: json.RawMessage(`"ok"`)}
			})
			rep, err := tr.Call(within(t, 10*time.Second), target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic}, &message.Request{Method: "m"})
			if err != nil || string(rep.Result) != `"ok"` {
				t.Fatalf("Call = %v, %v; want \"ok\"", rep, err)
			}
			if err := tr.Cast(within(t, 10*time.Second), tgt, &message.Request{Method: "cast"}); err != nil {
				t.Fatalf("Cast = %v", err)
			}
			await(t, handled, 10*time.Second, "the cast")

			fanoutQ := lis.(*rpcListener).expiring
			for _, d := range presetTopology(p.q, tgt, fanoutQ, tr.replyQ) {
				if err := d.declare(rawChannel(t, conn)); err != nil {
					t.Errorf("declaring the %s as oslo.messaging does with the same options = %v, want success", d.name, err)
				}
			}
			durable := p.q.Durable || p.q.Quorum
			flipped := []declaration{
				exchangeDeclaration("control-exchange", tgt.Exchange, "topic", !durable, p.q.AutoDelete),
				queueDeclaration("topic-queue", tgt.Topic, !durable, p.q.AutoDelete, nil),
			}
			for _, d := range flipped {
				if err := d.declare(rawChannel(t, conn)); !isPreconditionFailed(err) {
					t.Errorf("declaring the %s with durable %v = %v, want 406 PRECONDITION_FAILED", d.name, !durable, err)
				}
			}
		})
	}
}

// TestMeetExistingExchange has a peer declare the control exchange
// first with other flags than the warren transports' preset: a server
// and a client take it on as it is and calls, casts and fanout casts go
// through; an exchange of another type fails Listen and Call with an
// error that names the exchange, the argument and the broker's value, and
// wraps the 406.
func TestMeetExistingExchange(t *testing.T) {
	cases := []struct {
		name                string
		preset              Queues
		durable, autoDelete bool
	}{
		{"durable exchange, default preset", Queues{}, true, false},
		{"auto-delete exchange, default preset", Queues{}, false, true},
		{"durable auto-delete exchange, default preset", Queues{}, true, true},
		{"transient exchange, durable preset", Queues{Durable: true}, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tgt := serverTarget(t, "meet")
			ch := rawChannel(t, rawConn(t))
			if err := ch.ExchangeDeclare(tgt.Exchange, "topic", c.durable, c.autoDelete, false, false, nil); err != nil {
				t.Fatalf("declaring %s = %v", tgt.Exchange, err)
			}
			// A binding keeps an auto-delete exchange until the server's.
			if _, err := ch.QueueDeclare(tgt.Topic+".keep", false, true, false, false, nil); err != nil {
				t.Fatalf("QueueDeclare = %v", err)
			}
			if err := ch.QueueBind(tgt.Topic+".keep", "keep", tgt.Exchange, false, nil); err != nil {
				t.Fatalf("QueueBind = %v", err)
			}
			handled := make(chan string, 2)
			serve(t, listen(t, dial(t, QueuePreset(c.preset)), tgt), func(in transport.Incoming) *message.Reply {
				if m := in.Request().Method; m != "call" {
					handled <- m
				}
				return &message.Reply{Result: json.RawMessage(`"ok"`)}
			})
			client := dial(t, QueuePreset(c.preset))
			for range 2 { // the second on the remembered declaration
				rep, err := client.Call(within(t, 10*time.Second), tgt, &message.Request{Method: "call"})
				if err != nil || string(rep.Result) != `"ok"` {
					t.Fatalf("Call through the peer's exchange = %v, %v; want \"ok\"", rep, err)
				}
			}
			if err := client.Cast(within(t, 10*time.Second), tgt, &message.Request{Method: "cast"}); err != nil {
				t.Fatalf("Cast through the peer's exchange = %v", err)
			}
			if err := client.Cast(within(t, 10*time.Second), target.Target{Topic: tgt.Topic, Fanout: true}, &message.Request{Method: "fanout"}); err != nil {
				t.Fatalf("fanout Cast = %v", err)
			}
			for range 2 {
				await(t, handled, 10*time.Second, "cast")
			}
			// The exchange is as the peer declared it.
			if err := ch.ExchangeDeclare(tgt.Exchange, "topic", c.durable, c.autoDelete, false, false, nil); err != nil {
				t.Errorf("declaring %s as the peer did, after warren = %v", tgt.Exchange, err)
			}
		})
	}

	t.Run("other type", func(t *testing.T) {
		tgt := serverTarget(t, "meettype")
		if err := rawChannel(t, rawConn(t)).ExchangeDeclare(tgt.Exchange, "direct", false, false, false, false, nil); err != nil {
			t.Fatalf("declaring %s direct = %v", tgt.Exchange, err)
		}
		tr := dial(t)
		lis, err := tr.Listen(within(t, 10*time.Second), tgt)
		if err == nil {
			lis.Close()
			t.Fatal("Listen on a direct control exchange = nil error, want 406")
		}
		_, callErr := tr.Call(within(t, 10*time.Second), tgt, &message.Request{Method: "m"})
		for what, err := range map[string]error{"Listen": err, "Call": callErr} {
			for _, want := range []string{"exchange", tgt.Exchange, "another type (the broker has 'direct', warren declared 'topic')"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s error %v does not say %q", what, err, want)
				}
			}
			if !isPreconditionFailed(err) {
				t.Errorf("%s error %v does not wrap the broker's 406", what, err)
			}
		}
	})
}

// TestListenOnExistingQueues has a peer declare the topic and server
// queues as quorum queues (its rabbit_quorum_queue=true) before a warren
// server with the default preset listens: the server consumes them as
// they are, and calls to the topic and the server are answered.
func TestListenOnExistingQueues(t *testing.T) {
	tgt := serverTarget(t, "existing")
	ch := rawChannel(t, rawConn(t))
	quorum := amqp.Table{"x-queue-type": "quorum"}
	for _, q := range []string{tgt.Topic, tgt.Topic + "." + tgt.Server} {
		if _, err := ch.QueueDeclare(q, true, false, false, false, quorum); err != nil {
			t.Fatalf("declaring %s quorum = %v", q, err)
		}
	}
	tr := dial(t)
	serve(t, listen(t, tr, tgt), func(in transport.Incoming) *message.Reply {
		return &message.Reply{Result: json.RawMessage(`"ok"`)}
	})
	for _, to := range []target.Target{{Exchange: tgt.Exchange, Topic: tgt.Topic}, tgt} {
		rep, err := tr.Call(within(t, 10*time.Second), to, &message.Request{Method: "m"})
		if err != nil || string(rep.Result) != `"ok"` {
			t.Errorf("Call(%v) through a quorum queue a peer declared = %v, %v; want \"ok\"", to, rep, err)
		}
	}
}

// TestDeclareErrorText maps RabbitMQ's 406 reasons to the option to set.
func TestDeclareErrorText(t *testing.T) {
	cases := []struct {
		name, reason string
		want         []string
	}{
		{"quorum", "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': received none but current is the value 'quorum' of type 'longstr'",
			[]string{"another x-queue-type (the broker has the value 'quorum' of type 'longstr', warren declared none)", "set rabbit_quorum_queue"}},
		{"durable", "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'x' in vhost '/': received 'false' but current is 'true'",
			[]string{"another durable (the broker has 'true', warren declared 'false')", "set amqp_durable_queues"}},
		{"expires", "PRECONDITION_FAILED - inequivalent arg 'x-expires' for queue 'q' in vhost '/'", []string{"another x-expires; set rabbit_transient_queues_ttl"}},
		{"unknown arg", "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'q'", []string{"another x-max-length, which no queue preset sets"}},
		{"no arg", "PRECONDITION_FAILED - something else", []string{"it exists with other properties"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := declareError(&amqp.Error{Code: amqp.PreconditionFailed, Reason: c.reason})
			for _, want := range c.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("declareError(%q) = %v, want it to say %q", c.reason, err, want)
				}
			}
			if !isPreconditionFailed(err) {
				t.Errorf("declareError(%q) = %v, want it to wrap the 406", c.reason, err)
			}
		})
	}
	other := &amqp.Error{Code: amqp.NotFound, Reason: "NOT_FOUND"}
	if err := declareError(other); err != other {
		t.Errorf("declareError(404) = %v, want it unchanged", err)
	}
	if err := declareError(nil); err != nil {
		t.Errorf("declareError(nil) = %v, want nil", err)
	}
}

// TestBrokerFlag reads the broker's value of a flag from 406 reasons.
func TestBrokerFlag(t *testing.T) {
	cases := []struct {
		reason      string
		current, ok bool
	}{
		{"PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'x' in vhost '/': received 'false' but current is 'true'", true, true},
		{"PRECONDITION_FAILED - inequivalent arg 'auto_delete' for exchange 'x' in vhost '/': received 'true' but current is 'false'", false, true},
		{"PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'x' in vhost '/': received 'direct' but current is 'topic'", false, false},
		{"PRECONDITION_FAILED - something else", false, false},
		{"", false, false},
	}
	for _, c := range cases {
		if current, ok := brokerFlag(c.reason); current != c.current || ok != c.ok {
			t.Errorf("brokerFlag(%q) = %v, %v; want %v, %v", c.reason, current, ok, c.current, c.ok)
		}
	}
}
