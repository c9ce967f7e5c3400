package rabbit

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/transport"
)

// currentReplyQueue returns the name of tr's reply queue, "" when it has
// none.
func currentReplyQueue(tr *Transport) string {
	tr.replyMu.Lock()
	defer tr.replyMu.Unlock()
	return tr.replyQ
}

// TestReplyQueueDeleted deletes a transport's reply queue under a pending
// call: the call fails at once instead of waiting out its deadline, and
// the transport declares the queue again with its name.
func TestReplyQueueDeleted(t *testing.T) {
	tgt := serverTarget(t, "replydel")
	lis := listen(t, dial(t), tgt)
	got := make(chan transport.Incoming, 1)
	serve(t, lis, func(in transport.Incoming) *message.Reply {
		if in.Request().Method == "hang" {
			got <- in
			return nil
		}
		return &message.Reply{Result: json.RawMessage(`"ok"`)}
	})
	client := dial(t)
	calls := make(chan error, 1)
	go func() {
		_, err := client.Call(within(t, 30*time.Second), tgt, &message.Request{Method: "hang"})
		calls <- err
	}()
	await(t, got, 10*time.Second, "request on the server")
	old := currentReplyQueue(client)
	deleteQueue(t, old)
	err := await(t, calls, 10*time.Second, "pending Call return")
	if err == nil || errors.Is(err, transport.ErrTimeout) || !strings.Contains(err.Error(), "stopped delivering") {
		t.Errorf("pending Call across the reply queue's deletion = %v, want the consumer's end", err)
	}
	rep, err := client.Call(within(t, 10*time.Second), tgt, &message.Request{Method: "m"})
	if err != nil || string(rep.Result) != `"ok"` {
		t.Fatalf("Call after the deletion = %v, %v; want \"ok\"", rep, err)
	}
	if q := currentReplyQueue(client); q != old {
		t.Errorf("reply queue after the deletion = %q, want the same name %q", q, old)
	}
}

// TestReplyQueueDeclaredAgain: once the broker deleted the reply queue
// under its consumer, the next call declares it again before naming it,
// and only once; when the broker refuses, the call goes on with the name
// and the next call tries again. A stand-in subscription counts the
// declarations.
func TestReplyQueueDeclaredAgain(t *testing.T) {
	client := dial(t)
	q, err := client.replyQueue(within(t, 10*time.Second))
	if err != nil {
		t.Fatalf("replyQueue = %v", err)
	}
	client.replyMu.Lock()
	consumer := client.replySub
	client.replyMu.Unlock()
	t.Cleanup(func() {
		client.replyMu.Lock()
		client.replySub = consumer
		client.replyMu.Unlock()
	})
	for _, c := range []struct {
		name      string
		refused   error
		wantCalls int // declarations over two calls
	}{
		{"declared", nil, 1},
		{"refused", errors.New("process is stopped by supervisor"), 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			var declared int
			stand := client.newSubscription("stand-in", []string{q}, 0, func(ch *amqp.Channel) error {
				declared++
				return c.refused
			})
			defer stand.stopNow()
			client.replyMu.Lock()
			client.replySub = stand
			client.replyMu.Unlock()
			client.replyLost.Store(true)
			for i := range 2 {
				if got, err := client.replyQueue(within(t, 10*time.Second)); got != q || err != nil {
					t.Fatalf("replyQueue %d after the loss = %q, %v; want %q, nil", i, got, err, q)
				}
			}
			if declared != c.wantCalls {
				t.Errorf("the queue was declared %d times over two calls, want %d", declared, c.wantCalls)
			}
			if lost := client.replyLost.Load(); lost != (c.refused != nil) {
				t.Errorf("replyLost = %v after the calls, want %v", lost, c.refused != nil)
			}
		})
	}
}

// signalHandler is a slog.Handler that closes ch on the first message
// containing substr.
type signalHandler struct {
	substr string
	once   sync.Once
	ch     chan struct{}
}

func (h *signalHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *signalHandler) Handle(_ context.Context, rec slog.Record) error {
	if strings.Contains(rec.Message, h.substr) {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}

func (h *signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *signalHandler) WithGroup(string) slog.Handler      { return h }

// marshalHook runs f when encoded as JSON: as a request context value, it
// runs while Call encodes the request.
type marshalHook func()

func (f marshalHook) MarshalJSON() ([]byte, error) {
	f()
	return []byte(`"hook"`), nil
}

// TestReplyConsumerEndsWhileCallSends ends the reply consumer after a call
// chose its reply queue but before it published: the call must fail at
// once, not publish with a dead reply queue and wait out its deadline.
func TestReplyConsumerEndsWhileCallSends(t *testing.T) {
	tgt := serverTarget(t, "replyrace")
	lis := listen(t, dial(t), tgt)
	serve(t, lis, func(in transport.Incoming) *message.Reply {
		return &message.Reply{Result: json.RawMessage(`"ok"`)}
	})
	ended := &signalHandler{substr: "consumer ended", ch: make(chan struct{})}
	client := dial(t, Logger(slog.New(ended)))
	if _, err := client.Call(within(t, 10*time.Second), tgt, &message.Request{Method: "m"}); err != nil {
		t.Fatalf("first Call = %v", err)
	}
	old := currentReplyQueue(client)
	var hookErr error
	hook := marshalHook(func() {
		// The call has chosen its reply queue: delete it and wait until
		// the transport has failed the pending calls (it logs, then fails
		// them, holding replyMu).
		if _, err := rawChannel(t, rawConn(t)).QueueDelete(old, false, false, false); err != nil {
			hookErr = err
			return
		}
		select {
		case <-ended.ch:
		case <-time.After(10 * time.Second):
			hookErr = errors.New("the reply consumer did not end within 10s")
			return
		}
		// The transport fails the pending calls before it logs.
	})
	start := time.Now()
	_, err := client.Call(within(t, 10*time.Second), tgt, &message.Request{Method: "m", Context: map[string]any{"hook": hook}})
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	if err == nil || errors.Is(err, transport.ErrTimeout) || !strings.Contains(err.Error(), "stopped delivering") {
		t.Errorf("Call whose reply queue ended while it was sent = %v after %v, want the consumer's end at once", err, time.Since(start))
	}
	rep, err := client.Call(within(t, 10*time.Second), tgt, &message.Request{Method: "m"})
	if err != nil || string(rep.Result) != `"ok"` {
		t.Errorf("Call after = %v, %v; want \"ok\"", rep, err)
	}
}
