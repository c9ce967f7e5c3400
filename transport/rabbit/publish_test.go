package rabbit

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// rawQueue declares an exclusive queue bound to exchange with keys and
// returns what it receives.
func rawQueue(tb testing.TB, ch *amqp.Channel, exchange string, keys ...string) <-chan amqp.Delivery {
	tb.Helper()
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		tb.Fatalf("QueueDeclare = %v", err)
	}
	for _, k := range keys {
		if err := ch.QueueBind(q.Name, k, exchange, false, nil); err != nil {
			tb.Fatalf("QueueBind(%s, %s) = %v", k, exchange, err)
		}
	}
	d, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		tb.Fatalf("Consume = %v", err)
	}
	return d
}

// TestPublishedMessages checks what reaches the broker for calls and casts:
// routing, oslo.messaging's properties, the deadline carriers and the
// body, and that a call accepts oslo.messaging's captured reply.
func TestPublishedMessages(t *testing.T) {
	tgt := serverTarget(t, "props")
	conn := rawConn(t)
	ch := rawChannel(t, conn)
	if err := ch.ExchangeDeclare(tgt.Exchange, "topic", false, false, false, false, nil); err != nil {
		t.Fatalf("ExchangeDeclare = %v", err)
	}
	fanout := tgt.Topic + "_fanout"
	if err := ch.ExchangeDeclare(fanout, "fanout", false, true, false, false, nil); err != nil {
		t.Fatalf("ExchangeDeclare = %v", err)
	}
	deliveries := rawQueue(t, ch, tgt.Exchange, tgt.Topic, tgt.Topic+".s1")
	fanDeliveries := rawQueue(t, ch, fanout, tgt.Topic)
	tr := dial(t)
	reply := loadFixture(t, "02-call-reply.json")
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

	cases := []struct {
		name     string
		tgt      target.Target
		call     bool
		headers  map[string]string // Request.Headers
		exchange string
		key      string
	}{
		{"call", target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic}, true, nil, tgt.Exchange, tgt.Topic},
		{"call-server", tgt, true, map[string]string{"traceparent": traceparent}, tgt.Exchange, tgt.Topic + ".s1"},
		{"cast", target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic}, false, nil, tgt.Exchange, tgt.Topic},
		{"cast-headers", tgt, false, map[string]string{"traceparent": traceparent}, tgt.Exchange, tgt.Topic + ".s1"},
		{"fanout-cast", target.Target{Topic: tgt.Topic, Fanout: true}, false, nil, fanout, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := within(t, 5*time.Second)
			ctxDeadline, _ := ctx.Deadline()
			req := &message.Request{Method: "echo", Args: json.RawMessage(`{"x": 1}`), Headers: c.headers}
			results := make(chan error, 1)
			var rep *message.Reply
			go func() {
				var err error
				if c.call {
					rep, err = tr.Call(ctx, c.tgt, req)
				} else {
					err = tr.Cast(ctx, c.tgt, req)
				}
				results <- err
			}()
			from := deliveries
			if c.tgt.Fanout {
				from = fanDeliveries
			}
			d := await(t, from, 5*time.Second, "published message")

			if d.Exchange != c.exchange || d.RoutingKey != c.key {
				t.Errorf("published to %q with key %q, want %q, %q", d.Exchange, d.RoutingKey, c.exchange, c.key)
			}
			if d.ContentType != "application/json" || d.ContentEncoding != "utf-8" || d.DeliveryMode != 2 || d.Priority != 0 {
				t.Errorf("content type, encoding, delivery mode, priority = %q, %q, %d, %d; want application/json, utf-8, 2, 0",
					d.ContentType, d.ContentEncoding, d.DeliveryMode, d.Priority)
			}
			if c.call {
				ms, err := strconv.Atoi(d.Expiration)
				if err != nil || ms <= 0 || ms > 5000 {
					t.Errorf("expiration = %q, want the ms left of a 5 s timeout", d.Expiration)
				}
			} else if d.Expiration != "" {
				t.Errorf("expiration = %q, want none", d.Expiration)
			}
			want := amqp.Table{}
			for k, v := range c.headers {
				want[k] = v
			}
			if c.call {
				want[deadlineHeader] = ctxDeadline.UnixMilli()
			}
			if len(want) == 0 {
				want = nil
			}
			if !reflect.DeepEqual(d.Headers, want) {
				t.Errorf("headers = %#v, want %#v: the deadline on calls only, and the application headers", d.Headers, want)
			}

			got, err := wire.DecodeRequest(d.Body)
			if err != nil {
				t.Fatalf("DecodeRequest(%s) = %v", d.Body, err)
			}
			if got.Method != "echo" || string(got.Args) != `{"x": 1}` {
				t.Errorf("body method, args = %q, %s; want echo, {\"x\": 1}", got.Method, got.Args)
			}
			switch {
			case c.call && d.MessageId != "":
				t.Errorf("a call's message_id = %q, want none", d.MessageId)
			case c.call && d.CorrelationId != got.MsgID:
				t.Errorf("a call's correlation_id = %q, want its _msg_id %q", d.CorrelationId, got.MsgID)
			case !c.call && (got.UniqueID == "" || got.UniqueID != d.MessageId):
				t.Errorf("_unique_id %q, message_id %q; want the same id", got.UniqueID, d.MessageId)
			}
			if req.UniqueID != "" || req.MsgID != "" || req.ReplyTo != "" {
				t.Errorf("after sending, Request UniqueID, MsgID, ReplyTo = %q, %q, %q; want the caller's request untouched", req.UniqueID, req.MsgID, req.ReplyTo)
			}
			if got.IsCall() != c.call {
				t.Errorf("body has _msg_id %q, want a call: %v", got.MsgID, c.call)
			}
			if !c.call {
				if err := await(t, results, 5*time.Second, "Cast return"); err != nil {
					t.Errorf("Cast = %v", err)
				}
				return
			}
			if !strings.HasPrefix(got.ReplyTo, "reply_") || len(got.MsgID) != 32 {
				t.Errorf("_msg_id, _reply_q = %q, %q; want 32 hex and reply_<hex>", got.MsgID, got.ReplyTo)
			}
			// Answer with oslo.messaging's captured reply, addressed to
			// this call.
			body := strings.ReplaceAll(reply.Body, "3ad888affe984f8ba586134ccf7b440c", got.MsgID)
			err = ch.Publish("", got.ReplyTo, true, false, amqp.Publishing{ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: 2, Body: []byte(body)})
			if err != nil {
				t.Fatalf("publishing the reply: %v", err)
			}
			if err := await(t, results, 5*time.Second, "Call return"); err != nil {
				t.Fatalf("Call = %v", err)
			}
			var v struct {
				Got struct{ A int } `json:"got"`
			}
			if err := json.Unmarshal(rep.Result, &v); err != nil || v.Got.A != 1 || rep.Failure != nil {
				t.Errorf("Call result = %s, failure %v; want oslo's captured result", rep.Result, rep.Failure)
			}
		})
	}
}

// TestNoRouteUnderLoad publishes routable and unroutable casts
// concurrently: each must get its own verdict, so returns are matched to
// the right publishes.
func TestNoRouteUnderLoad(t *testing.T) {
	tgt := serverTarget(t, "load")
	conn := rawConn(t)
	ch := rawChannel(t, conn)
	if err := ch.ExchangeDeclare(tgt.Exchange, "topic", false, false, false, false, nil); err != nil {
		t.Fatalf("ExchangeDeclare = %v", err)
	}
	deliveries := rawQueue(t, ch, tgt.Exchange, tgt.Topic)
	tr := dial(t)

	const n = 200
	halfUnroutable(t, tgt, n, func(i int, to target.Target, routable bool) error {
		err := tr.Cast(within(t, 10*time.Second), to, &message.Request{Method: "m"})
		switch {
		case routable && err != nil:
			return fmt.Errorf("routable cast %d = %v, want nil", i, err)
		case !routable && !errors.Is(err, transport.ErrNoRoute):
			return fmt.Errorf("unroutable cast %d = %v, want ErrNoRoute", i, err)
		}
		return nil
	})
	for i := range n / 2 {
		await(t, deliveries, 5*time.Second, fmt.Sprintf("routable cast %d", i))
	}
}

// TestCallNoRouteUnderLoad makes routable and unroutable calls
// concurrently. Calls are published without confirms: each unroutable
// one must fail at once with ErrNoRoute, found by its correlation_id, and
// no routable one may be failed by another's return.
func TestCallNoRouteUnderLoad(t *testing.T) {
	tgt := serverTarget(t, "callload")
	server := dial(t)
	serve(t, listen(t, server, tgt), func(in transport.Incoming) *message.Reply {
		return &message.Reply{Result: json.RawMessage(`"ok"`)}
	})
	tr := dial(t)

	halfUnroutable(t, tgt, 200, func(i int, to target.Target, routable bool) error {
		rep, err := tr.Call(within(t, 10*time.Second), to, &message.Request{Method: "m"})
		switch {
		case routable && (err != nil || string(rep.Result) != `"ok"`):
			return fmt.Errorf("routable call %d = %v, %v; want \"ok\"", i, rep, err)
		case !routable && !errors.Is(err, transport.ErrNoRoute):
			return fmt.Errorf("unroutable call %d = %v, want ErrNoRoute", i, err)
		}
		return nil
	})
}

// halfUnroutable runs send n times at once, to tgt's topic for even i and
// to a topic no queue is bound to for odd i, and reports the errors send
// returns.
func halfUnroutable(t *testing.T, tgt target.Target, n int, send func(i int, to target.Target, routable bool) error) {
	t.Helper()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			to := target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic}
			if i%2 == 1 {
				to.Topic += "-nowhere"
			}
			if err := send(i, to, i%2 == 0); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestMessageTooLarge(t *testing.T) {
	tgt := serverTarget(t, "large")
	big := json.RawMessage(`{"s": "` + strings.Repeat("x", 2000) + `"}`)
	client := dial(t, MaxMessageSize(1024))
	if err := client.Cast(within(t, 5*time.Second), tgt, &message.Request{Method: "m", Args: big}); !errors.Is(err, transport.ErrMessageTooLarge) {
		t.Errorf("Cast of 2000 bytes = %v, want transport.ErrMessageTooLarge", err)
	}
	if _, err := client.Call(within(t, 5*time.Second), tgt, &message.Request{Method: "m", Args: big}); !errors.Is(err, transport.ErrMessageTooLarge) {
		t.Errorf("Call of 2000 bytes = %v, want transport.ErrMessageTooLarge", err)
	}

	// A reply too large is refused and counts as not sent: a smaller one
	// can follow.
	server := dial(t, MaxMessageSize(1024))
	lis := listen(t, server, tgt)
	replies := make(chan error, 2)
	serve(t, lis, func(in transport.Incoming) *message.Reply {
		replies <- in.Reply(within(t, 5*time.Second), &message.Reply{Result: big})
		replies <- in.Reply(within(t, 5*time.Second), &message.Reply{Result: json.RawMessage(`"small"`)})
		return nil
	})
	rep, err := client.Call(within(t, 10*time.Second), tgt, &message.Request{Method: "m"})
	if err != nil || string(rep.Result) != `"small"` {
		t.Errorf("Call = %v, %v; want the small reply", rep, err)
	}
	if err := await(t, replies, 5*time.Second, "Reply"); !errors.Is(err, transport.ErrMessageTooLarge) {
		t.Errorf("Reply of 2000 bytes = %v, want transport.ErrMessageTooLarge", err)
	}
	if err := await(t, replies, 5*time.Second, "Reply"); err != nil {
		t.Errorf("Reply after a refused one = %v, want nil", err)
	}
}

// TestPublishChannelRecovers checks that declarations the broker refuses
// (an exchange of another type) fail their publishes without closing a
// publishing channel, and that publishing channels the broker closed are
// replaced by later publishes.
func TestPublishChannelRecovers(t *testing.T) {
	tgt := serverTarget(t, "recover")
	other := target.Target{Exchange: unique("rx-direct"), Topic: tgt.Topic}
	ch := rawChannel(t, rawConn(t))
	if err := ch.ExchangeDeclare(other.Exchange, "direct", false, false, false, false, nil); err != nil {
		t.Fatalf("ExchangeDeclare = %v", err)
	}
	t.Cleanup(func() { forget(t, other) })
	server := dial(t)
	lis := listen(t, server, tgt)
	serve(t, lis, func(in transport.Incoming) *message.Reply {
		return &message.Reply{Result: json.RawMessage(`"ok"`)}
	})
	client := dial(t)
	if err := client.Cast(within(t, 5*time.Second), tgt, &message.Request{Method: "m"}); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	s := client.sess.Load()
	opened := make(map[*pubChannel]bool)
	for _, p := range s.pubs {
		if pc := p.pc.Load(); pc != nil {
			opened[pc] = true
		}
	}
	for i := range 2 * publishChannels {
		err := client.Cast(within(t, 5*time.Second), other, &message.Request{Method: "m"})
		if err == nil || !strings.Contains(err.Error(), "PRECONDITION_FAILED") || errors.Is(err, transport.ErrConnectionLost) {
			t.Errorf("Cast %d to an exchange of another type = %v, want a 406", i, err)
		}
	}
	for pc := range opened {
		if pc.dead() {
			t.Errorf("a publishing channel closed after refused declarations, want them made on channels of their own")
		}
	}
	// The broker closing every channel of both pools, as a channel error
	// would.
	for _, p := range append(slices.Clone(s.pubs), s.calls...) {
		if pc := p.pc.Load(); pc != nil {
			_ = pc.ch.Close()
		}
	}
	for i := range 2 * publishChannels {
		rep, err := client.Call(within(t, 5*time.Second), tgt, &message.Request{Method: "m"})
		if err != nil || string(rep.Result) != `"ok"` {
			t.Errorf("Call %d after channel failures = %v, %v; want \"ok\"", i, rep, err)
		}
		if err := client.Cast(within(t, 5*time.Second), tgt, &message.Request{Method: "m"}); err != nil {
			t.Errorf("Cast %d after channel failures = %v", i, err)
		}
	}
}

// TestCompressionOnTheWire publishes through a transport with
// kombu_compression=gzip to a raw queue: the body is a zlib stream of the
// encoded message and the compression header says application/x-gzip; a
// transport reads it back.
func TestCompressionOnTheWire(t *testing.T) {
	tr := dial(t, Compression("gzip"))
	ch := rawChannel(t, rawConn(t))
	q := unique("rq-gzip")
	if _, err := ch.QueueDeclare(q, false, true, false, false, nil); err != nil {
		t.Fatalf("QueueDeclare(%s) = %v", q, err)
	}
	want := []byte(`{"oslo.version": "2.0", "oslo.message": "{}"}`)
	if err := tr.publishReply(within(t, 10*time.Second), q, want); err != nil {
		t.Fatalf("publishReply = %v", err)
	}
	msgs, err := ch.Consume(q, "", true, false, false, false, nil)
	if err != nil {
		t.Fatalf("Consume(%s) = %v", q, err)
	}
	d := await(t, msgs, 10*time.Second, "the compressed message")
	if h := d.Headers["compression"]; h != "application/x-gzip" {
		t.Errorf("compression header = %v, want application/x-gzip", h)
	}
	zr, err := zlib.NewReader(bytes.NewReader(d.Body))
	if err != nil {
		t.Fatalf("the body is not a zlib stream: %v", err)
	}
	body, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(body, want) {
		t.Errorf("uncompressed body = %q, %v; want %q", body, err, want)
	}
	plain := dial(t)
	if got, err := plain.bodyOf(&d); err != nil || !bytes.Equal(got, want) {
		t.Errorf("bodyOf the compressed delivery = %q, %v; want %q", got, err, want)
	}
}

// TestFanoutExchangeRedeclared checks that a fanout cast declares its
// auto-delete exchange again on a channel that declared it before (the
// later declares go without waiting): once the exchange is deleted, each
// cast makes it anew and comes back unroutable, no channel fails with a
// 404, and casts reach a queue bound to the new exchange.
func TestFanoutExchangeRedeclared(t *testing.T) {
	tgt := serverTarget(t, "redeclare")
	fanout := target.Target{Topic: tgt.Topic, Fanout: true}
	exchange := tgt.Topic + "_fanout"
	tr := dial(t)
	ctx := within(t, 30*time.Second)
	cast := func(what string) error {
		return tr.Cast(ctx, fanout, &message.Request{Method: what})
	}
	var noRoute *transport.NoRouteError
	// Every channel of the pool declares the exchange once.
	for i := range 2 * publishChannels {
		if err := cast("first"); !errors.As(err, &noRoute) {
			t.Fatalf("cast %d before the delete = %v, want a *transport.NoRouteError", i, err)
		}
	}
	ch, err := rawConn(t).Channel()
	if err != nil {
		t.Fatalf("Channel = %v", err)
	}
	if err := ch.ExchangeDelete(exchange, false, false); err != nil {
		t.Fatalf("ExchangeDelete(%s) = %v", exchange, err)
	}
	for i := range 2 * publishChannels {
		if err := cast("again"); !errors.As(err, &noRoute) {
			t.Fatalf("cast %d after the delete = %v, want a *transport.NoRouteError", i, err)
		}
	}
	got := rawQueue(t, ch, exchange, "")
	for i := range 2 * publishChannels {
		if err := cast("bound"); err != nil {
			t.Fatalf("cast %d to a bound queue = %v", i, err)
		}
		d := await(t, got, 10*time.Second, "the fanout cast")
		if !bytes.Contains(d.Body, []byte(`bound`)) {
			t.Errorf("cast %d delivered %s, want method bound", i, d.Body)
		}
	}
}
