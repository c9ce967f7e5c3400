package rabbit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

func jsonPublishing(body string) amqp.Publishing {
	return amqp.Publishing{ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: 2, Body: []byte(body)}
}

// TestListenerRejectsInvalidMessages publishes invalid messages into a
// server's queue: each is rejected and logged, none comes back, and the
// listener goes on serving.
func TestListenerRejectsInvalidMessages(t *testing.T) {
	const limit = 4096
	tgt := serverTarget(t, "garbage")
	logs := &logRecorder{}
	tr := dial(t, MaxMessageSize(limit), Logger(slog.New(logs)))
	lis := listen(t, tr, tgt)
	good := loadFixture(t, "03-cast-request.json").Body

	invalid := []struct {
		name string
		body string
	}{
		{"not-json", "hello"},
		{"empty", ""},
		{"json-array", `[1, 2]`},
		{"envelope-2.1", `{"oslo.version": "2.1", "oslo.message": "{\"method\": \"echo\", \"args\": {}}"}`},
		{"inner-not-json", `{"oslo.version": "2.0", "oslo.message": "{nope"}`},
		{"no-method", `{"oslo.version": "2.0", "oslo.message": "{\"args\": {}}"}`},
		{"args-not-object", `{"method": "echo", "args": [1]}`},
		{"oversized", strings.Replace(good, "castme", strings.Repeat("x", limit), 1)},
	}
	if len(invalid[len(invalid)-1].body) <= limit {
		t.Fatalf("oversized body has %d bytes, want more than %d", len(invalid[len(invalid)-1].body), limit)
	}
	ch := rawChannel(t, rawConn(t))
	publish := func(body string) {
		t.Helper()
		if err := ch.Publish(tgt.Exchange, tgt.Topic, true, false, jsonPublishing(body)); err != nil {
			t.Fatalf("Publish = %v", err)
		}
	}
	for _, c := range invalid {
		publish(c.body)
	}
	publish(freshUniqueID(t, good))
	publish(freshUniqueID(t, good))

	// The queue is FIFO: Next returns the good messages only after it
	// rejected every invalid one before them.
	for i := range 2 {
		in, err := lis.Next(within(t, 10*time.Second))
		if err != nil {
			t.Fatalf("Next = %v", err)
		}
		if r := in.Request(); r.Method != "echo" || r.IsCall() {
			t.Errorf("Next %d = %q call %v, want the echo cast", i, r.Method, r.IsCall())
		}
	}
	if got := logs.count("dropping a message that is not a valid request"); got != len(invalid) {
		t.Errorf("logged %d rejections, want %d (one per invalid message, none redelivered)", got, len(invalid))
	}
	q, err := ch.QueueDeclarePassive(tgt.Topic, false, false, false, false, nil)
	if err != nil || q.Messages != 0 {
		t.Errorf("queue %s holds %d messages (%v), want none: rejected messages are not requeued", tgt.Topic, q.Messages, err)
	}
}

// TestListenerDeadline checks where a request's deadline comes from:
// header x-warren-deadline, else the receipt time plus the expiration an
// oslo.messaging caller sets.
func TestListenerDeadline(t *testing.T) {
	tgt := serverTarget(t, "deadline")
	tr := dial(t)
	lis := listen(t, tr, tgt)
	ch := rawChannel(t, rawConn(t))
	body := loadFixture(t, "01-call-request.json").Body
	header := time.Now().Add(time.Minute).Truncate(time.Millisecond)

	cases := []struct {
		name       string
		headers    amqp.Table
		expiration string
		exact      time.Time     // the deadline wanted, if not zero
		relative   time.Duration // else the time after receipt wanted, if not zero
	}{
		{"none", nil, "", time.Time{}, 0},
		{"expiration", nil, "30000", time.Time{}, 30 * time.Second},
		{"header", amqp.Table{deadlineHeader: header.UnixMilli()}, "", header, 0},
		{"header-wins", amqp.Table{deadlineHeader: header.UnixMilli()}, "30000", header, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := jsonPublishing(freshUniqueID(t, body))
			msg.Headers, msg.Expiration = c.headers, c.expiration
			before := time.Now()
			if err := ch.Publish(tgt.Exchange, tgt.Topic, false, false, msg); err != nil {
				t.Fatalf("Publish = %v", err)
			}
			in, err := lis.Next(within(t, 10*time.Second))
			if err != nil {
				t.Fatalf("Next = %v", err)
			}
			after := time.Now()
			got := in.Deadline()
			switch {
			case !c.exact.IsZero():
				if !got.Equal(c.exact) {
					t.Errorf("Deadline = %v, want %v", got, c.exact)
				}
			case c.relative != 0:
				if got.Before(before.Add(c.relative)) || got.After(after.Add(c.relative)) {
					t.Errorf("Deadline = %v, want receipt + %v, between %v and %v", got, c.relative, before.Add(c.relative), after.Add(c.relative))
				}
			case !got.IsZero():
				t.Errorf("Deadline = %v, want none", got)
			}
		})
	}
}

func TestDeadlineOf(t *testing.T) {
	received := time.Now()
	cases := []struct {
		name string
		d    amqp.Delivery
		want time.Time
	}{
		{"none", amqp.Delivery{}, time.Time{}},
		{"int64-header", amqp.Delivery{Headers: amqp.Table{deadlineHeader: int64(1700000000123)}}, time.UnixMilli(1700000000123)},
		{"int32-header", amqp.Delivery{Headers: amqp.Table{deadlineHeader: int32(1000)}}, time.UnixMilli(1000)},
		{"string-header", amqp.Delivery{Headers: amqp.Table{deadlineHeader: "1000"}}, time.Time{}},
		{"expiration", amqp.Delivery{Expiration: "1500"}, received.Add(1500 * time.Millisecond)},
		{"header-wins", amqp.Delivery{Headers: amqp.Table{deadlineHeader: int64(1000)}, Expiration: "1500"}, time.UnixMilli(1000)},
		{"bad-expiration", amqp.Delivery{Expiration: "soon"}, time.Time{}},
		{"negative-expiration", amqp.Delivery{Expiration: "-5"}, time.Time{}},
		{"huge-expiration", amqp.Delivery{Expiration: strconv.FormatInt(1<<62, 10)}, time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := deadlineOf(&c.d, received); !got.Equal(c.want) {
				t.Errorf("deadlineOf(headers %v, expiration %q) = %v, want %v", c.d.Headers, c.d.Expiration, got, c.want)
			}
		})
	}
}

// TestReplyQueueDropsInvalidMessages puts invalid messages into a
// client's reply queue: they are dropped and logged, and calls go on.
func TestReplyQueueDropsInvalidMessages(t *testing.T) {
	tgt := serverTarget(t, "badreply")
	server := dial(t)
	lis := listen(t, server, tgt)
	serve(t, lis, func(in transport.Incoming) *message.Reply {
		return &message.Reply{Result: json.RawMessage(`"ok"`)}
	})
	logs := &logRecorder{}
	client := dial(t, Logger(slog.New(logs)))
	replyQ, err := client.replyQueue(within(t, 10*time.Second))
	if err != nil {
		t.Fatalf("replyQueue = %v", err)
	}
	ch := rawChannel(t, rawConn(t))
	bodies := []string{"nope", `{"oslo.version": "2.0", "oslo.message": "{\"result\": 1}"}`, `{"oslo.version": "3.0", "oslo.message": "{}"}`}
	for _, b := range bodies {
		if err := ch.Publish("", replyQ, true, false, jsonPublishing(b)); err != nil {
			t.Fatalf("Publish = %v", err)
		}
	}
	// The reply queue is FIFO: the call's reply comes after the invalid
	// messages.
	rep, err := client.Call(within(t, 10*time.Second), tgt, &message.Request{Method: "m"})
	if err != nil || string(rep.Result) != `"ok"` {
		t.Fatalf("Call = %v, %v; want \"ok\"", rep, err)
	}
	if got := logs.count("dropping a message that is not a valid reply"); got != len(bodies) {
		t.Errorf("logged %d dropped replies, want %d", got, len(bodies))
	}
}

// TestReplyToClosedCaller replies after the caller's transport closed:
// the reply queue is gone, so the reply is dropped with a log line.
func TestReplyToClosedCaller(t *testing.T) {
	tgt := serverTarget(t, "gone")
	logs := &logRecorder{}
	server := dial(t, Logger(slog.New(logs)))
	lis := listen(t, server, tgt)
	client := dial(t)
	errs := make(chan error, 1)
	go func() {
		_, err := client.Call(within(t, 10*time.Second), tgt, &message.Request{Method: "m"})
		errs <- err
	}()
	in, err := lis.Next(within(t, 10*time.Second))
	if err != nil {
		t.Fatalf("Next = %v", err)
	}
	if err := client.Close(); err != nil {
		t.Fatalf("client Close = %v", err)
	}
	if err := await(t, errs, 5*time.Second, "Call return"); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Call across Close = %v, want ErrClosed", err)
	}
	if err := in.Reply(within(t, 5*time.Second), &message.Reply{Result: json.RawMessage(`1`)}); err != nil {
		t.Errorf("Reply to a closed caller = %v, want nil", err)
	}
	// The reply is published without a confirm: its return comes later.
	if got := logs.await("dropping a reply", 1, 5*time.Second); got != 1 {
		t.Errorf("logged %d dropped replies, want 1", got)
	}
	if err := in.Reply(within(t, 5*time.Second), &message.Reply{}); err == nil {
		t.Errorf("second Reply = nil, want an error")
	}
}

func FuzzDeadlineOf(f *testing.F) {
	f.Add("", int64(0), false)
	f.Add("60000", int64(0), false)
	f.Add("-1", int64(1700000000000), true)
	f.Add("99999999999999999999", int64(-5), true)
	f.Fuzz(func(t *testing.T, expiration string, header int64, withHeader bool) {
		d := &amqp.Delivery{Expiration: expiration}
		if withHeader {
			d.Headers = amqp.Table{deadlineHeader: header}
		}
		received := time.Now()
		got := deadlineOf(d, received)
		switch {
		case withHeader && !got.Equal(time.UnixMilli(header)):
			t.Errorf("deadlineOf(header %d) = %v, want the header", header, got)
		case !withHeader && !got.IsZero() && got.Before(received):
			t.Errorf("deadlineOf(expiration %q) = %v, before receipt %v", expiration, got, received)
		}
	})
}

func TestHeadersOf(t *testing.T) {
	cases := []struct {
		name    string
		headers amqp.Table
		want    map[string]string
	}{
		{"none", nil, nil},
		{"deadline only", amqp.Table{deadlineHeader: int64(1000)}, nil},
		{"application", amqp.Table{"traceparent": "tp", "baggage": "", deadlineHeader: int64(1)}, map[string]string{"traceparent": "tp", "baggage": ""}},
		{"reserved string", amqp.Table{"X-Warren-Other": "v", "tracestate": "ts"}, map[string]string{"tracestate": "ts"}},
		{"not strings", amqp.Table{"n": int32(1), "b": true, "raw": []byte("x"), "t": amqp.Table{"k": "v"}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := headersOf(&amqp.Delivery{Headers: c.headers}); !reflect.DeepEqual(got, c.want) {
				t.Errorf("headersOf(%v) = %#v, want %#v", c.headers, got, c.want)
			}
		})
	}
}

// FuzzHeadersOf checks that any header table gives the string headers
// that are not warren's own, and never panics.
func FuzzHeadersOf(f *testing.F) {
	f.Add("traceparent", "00-tp", "x-warren-deadline", int64(5))
	f.Add("", "", "X-WARREN-", int64(-1))
	f.Fuzz(func(t *testing.T, k1, v1, k2 string, n int64) {
		got := headersOf(&amqp.Delivery{Headers: amqp.Table{k1: v1, k2: n}})
		want := map[string]string{k1: v1}
		if k1 == k2 || strings.HasPrefix(strings.ToLower(k1), "x-warren-") {
			want = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("headersOf(%q: %q, %q: %d) = %#v, want %#v", k1, v1, k2, n, got, want)
		}
	})
}

// TestPrefetch checks that a listener holds at most prefetch requests it
// has not handed out, the URL's prefetch overriding the option.
func TestPrefetch(t *testing.T) {
	tgt := serverTarget(t, "prefetch")
	tr, err := Dial(within(t, 10*time.Second), brokerURLWith(t, nil, "prefetch=2"), Prefetch(50))
	if err != nil {
		t.Fatalf("Dial = %v", err)
	}
	defer tr.Close()
	lis := listen(t, tr, tgt)
	ch := rawChannel(t, rawConn(t))
	if err := ch.Confirm(false); err != nil {
		t.Fatalf("Confirm = %v", err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 10))
	body := loadFixture(t, "03-cast-request.json").Body
	for range 10 {
		if err := ch.Publish(tgt.Exchange, tgt.Topic, true, false, jsonPublishing(freshUniqueID(t, body))); err != nil {
			t.Fatalf("Publish = %v", err)
		}
	}
	// Once confirmed, all ten are in the queue.
	for range 10 {
		if c := await(t, confirms, 10*time.Second, "publish confirm"); !c.Ack {
			t.Fatalf("publish %d nacked", c.DeliveryTag)
		}
	}
	// The broker pushes asynchronously: poll until it has pushed what it
	// may, and check it pushed no more.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		q, err := ch.QueueDeclarePassive(tgt.Topic, false, false, false, false, nil)
		if err != nil {
			t.Fatalf("QueueDeclarePassive = %v", err)
		}
		if q.Messages < 8 {
			t.Fatalf("queue holds %d ready messages, want 8: the listener took more than its prefetch of 2", q.Messages)
		}
		if q.Messages == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue still holds %d ready messages after 10s, want 8", q.Messages)
		}
		<-tick.C
	}
	for i := range 10 {
		if _, err := lis.Next(within(t, 10*time.Second)); err != nil {
			t.Fatalf("Next %d = %v", i, err)
		}
	}
}

// TestListenFails checks failed Listens leave the transport usable.
func TestListenFails(t *testing.T) {
	tr := dial(t)
	cases := []struct {
		name  string
		setup func(t *testing.T, tgt target.Target) context.Context
		want  func(err error) bool
	}{
		{"inequivalent-exchange", func(t *testing.T, tgt target.Target) context.Context {
			// A control exchange of another type is not taken on (one
			// declared durable is, as are queues that exist).
			if err := rawChannel(t, rawConn(t)).ExchangeDeclare(tgt.Exchange, "direct", false, false, false, false, nil); err != nil {
				t.Fatalf("ExchangeDeclare = %v", err)
			}
			return within(t, 10*time.Second)
		}, func(err error) bool { return err != nil && strings.Contains(err.Error(), "PRECONDITION_FAILED") }},
		{"cancelled", func(t *testing.T, tgt target.Target) context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, func(err error) bool { return errors.Is(err, context.Canceled) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tgt := serverTarget(t, "fail")
			_, err := tr.Listen(c.setup(t, tgt), tgt)
			if !c.want(err) {
				t.Errorf("Listen = %v, want a %s error", err, c.name)
			}
			if errors.Is(err, transport.ErrConnectionLost) {
				t.Errorf("Listen = %v, want the connection to survive", err)
			}
			other := serverTarget(t, "after")
			lis, err := tr.Listen(within(t, 10*time.Second), other)
			if err != nil {
				t.Fatalf("Listen after a failed one = %v", err)
			}
			if err := lis.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
		})
	}
}

// TestRejectedCallGetsFailure publishes a call the listener must reject
// (envelope 2.1) but whose _msg_id and _reply_q can be read: the caller's
// reply queue gets a ValueError failure instead of nothing.
func TestRejectedCallGetsFailure(t *testing.T) {
	tgt := serverTarget(t, "rejectcall")
	tr := dial(t)
	lis := listen(t, tr, tgt)
	ch := rawChannel(t, rawConn(t))
	replyQ, replies := rawReplyQueue(t, ch)
	bad := `{"oslo.version": "2.1", "oslo.message": "{\"method\": \"echo\", \"args\": {}, \"_msg_id\": \"m-rejected\", \"_reply_q\": \"` + replyQ + `\", \"_timeout\": null}"}`
	good := loadFixture(t, "03-cast-request.json").Body
	for _, body := range []string{bad, good} {
		if err := ch.Publish(tgt.Exchange, tgt.Topic, true, false, jsonPublishing(body)); err != nil {
			t.Fatalf("Publish = %v", err)
		}
	}
	// Next rejects the bad call, answering it, then returns the good cast.
	if _, err := lis.Next(within(t, 10*time.Second)); err != nil {
		t.Fatalf("Next = %v", err)
	}
	d := await(t, replies, 10*time.Second, "the failure reply")
	if d.MessageId != "" || d.ContentType != "application/json" || d.ContentEncoding != "utf-8" || d.DeliveryMode != amqp.Persistent {
		t.Errorf("reply message_id %q, content type %q, encoding %q, delivery mode %d; want none and oslo.messaging's properties",
			d.MessageId, d.ContentType, d.ContentEncoding, d.DeliveryMode)
	}
	m, err := wire.DecodeReply(d.Body)
	if err != nil {
		t.Fatalf("DecodeReply(%s) = %v", d.Body, err)
	}
	if m.MsgID != "m-rejected" || !m.Ending || m.Failure == nil || m.Failure.Class != "ValueError" ||
		!strings.Contains(m.Failure.Message, "unsupported envelope version") {
		t.Errorf("reply = %+v (failure %+v), want an ending ValueError about the envelope version", m, m.Failure)
	}
}

// TestMalformedReplyFailsCall answers a call with replies Go cannot decode
// (Python's json.dumps writes NaN; an envelope version other than 2.0):
// the call fails at once with an error matching the public sentinel,
// transport.ErrMalformed or transport.ErrUnsupportedEnvelope, instead of
// waiting out its timeout.
func TestMalformedReplyFailsCall(t *testing.T) {
	cases := []struct {
		name  string
		inner string // the reply's oslo.message, with %s for the _msg_id
		env   string // its envelope version
		want  error
	}{
		{"nan", `{\"result\": NaN, \"failure\": null, \"ending\": true, \"_msg_id\": \"%s\"}`, "2.0", transport.ErrMalformed},
		{"envelope-2.1", `{\"result\": 1, \"failure\": null, \"ending\": true, \"_msg_id\": \"%s\"}`, "2.1", transport.ErrUnsupportedEnvelope},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tgt := serverTarget(t, "badreply")
			lis := listen(t, dial(t), tgt)
			ch := rawChannel(t, rawConn(t))
			go func() {
				in, err := lis.Next(within(t, 10*time.Second))
				if err != nil {
					return // the call below reports the missing reply
				}
				req := in.Request()
				body := `{"oslo.version": "` + c.env + `", "oslo.message": "` + fmt.Sprintf(c.inner, req.MsgID) + `"}`
				_ = ch.Publish("", req.ReplyTo, false, false, jsonPublishing(body))
			}()
			client := dial(t)
			start := time.Now()
			_, err := client.Call(within(t, 20*time.Second), tgt, &message.Request{Method: "m"})
			if !errors.Is(err, c.want) {
				t.Fatalf("Call answered with a bad reply = %v, want %v", err, c.want)
			}
			if strings.Count(err.Error(), "rabbit:") != 1 {
				t.Errorf("error %q has more than one rabbit: prefix", err)
			}
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Errorf("Call took %v, want it to fail at once rather than time out", elapsed)
			}
		})
	}
}

// TestListenerQueueDeleted deletes a listener's server queue under it: the
// broker cancels that consumer, the listener declares its queues again
// and calls to the server get answered again, without an error from Next.
func TestListenerQueueDeleted(t *testing.T) {
	tgt := serverTarget(t, "qdeleted")
	rec := &logRecorder{}
	lis := listen(t, dial(t, Logger(slog.New(rec))), tgt)
	serve(t, lis, func(in transport.Incoming) *message.Reply {
		return &message.Reply{Result: json.RawMessage(`"ok"`)}
	})
	client := dial(t)
	if _, err := client.Call(within(t, 10*time.Second), tgt, &message.Request{Method: "m"}); err != nil {
		t.Fatalf("Call before the deletion = %v", err)
	}
	deleteQueue(t, tgt.Topic+"."+tgt.Server)
	// Until the listener declared the queue again, a call finds no route:
	// retry those only, within a deadline.
	ctx := within(t, 10*time.Second)
	for {
		rep, err := client.Call(ctx, tgt, &message.Request{Method: "m"})
		if errors.Is(err, transport.ErrNoRoute) {
			continue
		}
		if err != nil || string(rep.Result) != `"ok"` {
			t.Fatalf("Call after the deletion = %v, %v; want \"ok\"", rep, err)
		}
		break
	}
	if rec.count("consumer ended") == 0 {
		t.Errorf("no log line about the consumer that ended")
	}
}
