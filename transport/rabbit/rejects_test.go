package rabbit

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/transport"
)

// warnings is a slog.Handler that keeps the senders of the warnings
// logged.
type warnings struct {
	mu      sync.Mutex
	senders []string
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }

func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "sender" {
			w.mu.Lock()
			w.senders = append(w.senders, a.Value.String())
			w.mu.Unlock()
		}
		return true
	})
	return nil
}

func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

func (w *warnings) snapshot() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.senders...)
}

// rawReplyQueue declares a reply queue on ch, deleted when the test ends,
// and consumes it.
func rawReplyQueue(t *testing.T, ch *amqp.Channel) (string, <-chan amqp.Delivery) {
	t.Helper()
	replyQ := topology.ReplyQueue()
	if err := (Queues{}).declareExpiring(ch, replyQ); err != nil {
		t.Fatalf("QueueDeclare = %v", err)
	}
	t.Cleanup(func() { deleteQueue(t, replyQ) })
	replies, err := ch.Consume(replyQ, "", true, false, false, false, nil)
	if err != nil {
		t.Fatalf("Consume = %v", err)
	}
	return replyQ, replies
}

// TestUndecodableCompressedRequest publishes requests whose gzip body
// does not uncompress: a caller that can still be identified (its
// _msg_id and _reply_q in what uncompressed before the stream broke, or
// AMQP correlation_id and reply_to) gets a ValueError failure; the others
// are logged once per sender and each reported to OnDrop; the listener
// goes on.
func TestUndecodableCompressedRequest(t *testing.T) {
	tgt := serverTarget(t, "badgzip")
	logs := &warnings{}
	var (
		dropsMu sync.Mutex
		drops   int
	)
	tr := dial(t, Logger(slog.New(logs)), OnDrop(func(d transport.Drop) {
		dropsMu.Lock()
		drops++
		dropsMu.Unlock()
	}))
	lis := listen(t, tr, tgt)
	ch := rawChannel(t, rawConn(t))
	replyQ, replies := rawReplyQueue(t, ch)

	call := []byte(`{"oslo.version": "2.0", "oslo.message": "{\"method\": \"echo\", \"args\": {}, \"_msg_id\": \"m-body\", \"_reply_q\": \"` + replyQ + `\", ` +
		strings.Repeat(`\"_context_k\": \"v\", `, 100) + `\"_unique_id\": \"u1\"}"}`)
	z := wire.Compress(call)
	badSum := bytes.Clone(z)
	badSum[len(badSum)-1] ^= 0xff
	garbage := []byte("not a zlib stream")
	type bad struct {
		body  []byte
		props func(m *amqp.Publishing)
	}
	msgs := []bad{
		{badSum, nil},        // identified by its body
		{z[:len(z)-10], nil}, // cut short, identified by its body
		{garbage, func(m *amqp.Publishing) { // identified by its properties
			m.CorrelationId, m.ReplyTo = "m-props", replyQ
		}},
	}
	for range 5 {
		msgs = append(msgs, bad{garbage, func(m *amqp.Publishing) { m.AppId = "py-svc" }})
	}
	for range 3 {
		msgs = append(msgs, bad{garbage, func(m *amqp.Publishing) { m.AppId = "other" }})
	}
	for _, b := range msgs {
		m := amqp.Publishing{ContentType: contentType, Body: b.body, Headers: amqp.Table{compressionHeader: wire.Gzip}}
		if b.props != nil {
			b.props(&m)
		}
		if err := ch.Publish(tgt.Exchange, tgt.Topic, true, false, m); err != nil {
			t.Fatalf("Publish = %v", err)
		}
	}
	good := loadFixture(t, "03-cast-request.json").Body
	if err := ch.Publish(tgt.Exchange, tgt.Topic, true, false, jsonPublishing(freshUniqueID(t, good))); err != nil {
		t.Fatalf("Publish = %v", err)
	}
	// The queue is FIFO: Next returns the cast after rejecting the others.
	if in, err := lis.Next(within(t, 10*time.Second)); err != nil || in.Request().Method != "echo" {
		t.Fatalf("Next = %v, %v; want the echo cast", in, err)
	}

	got := make(map[string]bool)
	for range 3 {
		d := await(t, replies, 10*time.Second, "a failure reply")
		m, err := wire.DecodeReply(d.Body)
		if err != nil || m.Failure == nil || m.Failure.Class != "ValueError" || !strings.Contains(m.Failure.Message, "compression") {
			t.Fatalf("reply %s = %+v, %v; want a ValueError about the compression", d.Body, m, err)
		}
		got[m.MsgID] = true
	}
	if !got["m-body"] || !got["m-props"] {
		t.Errorf("failure replies went to calls %v, want m-body (twice) and m-props", got)
	}
	warned := logs.snapshot()
	want := []string{"reply queue " + replyQ, "app_id py-svc", "app_id other"}
	if len(warned) != len(want) {
		t.Errorf("warnings from senders %q, want one each from %q", warned, want)
	}
	for _, s := range want {
		if !strings.Contains(strings.Join(warned, "\n"), s) {
			t.Errorf("no warning names sender %q (warned: %q)", s, warned)
		}
	}
	dropsMu.Lock()
	defer dropsMu.Unlock()
	if drops != len(msgs) {
		t.Errorf("OnDrop heard of %d messages, want %d", drops, len(msgs))
	}
}

func TestSenderOf(t *testing.T) {
	cases := []struct {
		name    string
		d       amqp.Delivery
		replyTo string
		want    string
	}{
		{"body's reply queue first", amqp.Delivery{ReplyTo: "r2", AppId: "a"}, "r1", "reply queue r1"},
		{"AMQP reply_to", amqp.Delivery{ReplyTo: "r2", AppId: "a"}, "", "reply queue r2"},
		{"app_id", amqp.Delivery{AppId: "a", UserId: "u"}, "", "app_id a"},
		{"user_id", amqp.Delivery{UserId: "u"}, "", "user_id u"},
		{"unidentified", amqp.Delivery{Exchange: "x", RoutingKey: "k"}, "", `an unidentified sender to exchange "x", routing key "k"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := senderOf(&c.d, c.replyTo); got != c.want {
				t.Errorf("senderOf(%+v, %q) = %q, want %q", c.d, c.replyTo, got, c.want)
			}
		})
	}
}

// TestRejectLogBounded checks that the senders remembered stay bounded:
// past the bound, the set starts over and a sender is warned of again.
func TestRejectLogBounded(t *testing.T) {
	logs := &warnings{}
	tr := &Transport{log: slog.New(logs)}
	d := func(app string) *amqp.Delivery { return &amqp.Delivery{AppId: app} }
	tr.rejected("l", "request", d("first"), "", transport.ErrMalformed)
	tr.rejected("l", "request", d("first"), "", transport.ErrMalformed)
	for i := range maxRejectSenders {
		tr.rejected("l", "request", d(fmt.Sprint(i)), "", transport.ErrMalformed)
	}
	if n := len(tr.rejects.senders); n > maxRejectSenders {
		t.Errorf("%d senders remembered, want at most %d", n, maxRejectSenders)
	}
	tr.rejected("l", "request", d("first"), "", transport.ErrMalformed)
	if got := strings.Count(strings.Join(logs.snapshot(), "\n"), "app_id first"); got != 2 {
		t.Errorf("warned of sender first %d times, want 2 (once, then again after the set started over)", got)
	}
}
