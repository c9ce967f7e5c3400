package rabbit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// maxRejectSenders bounds the senders a transport remembers having logged
// a rejected message of; past it the set starts over.
const maxRejectSenders = 1024

// rejectLog logs the messages a transport rejects once per sender: a
// sender that keeps sending what warren cannot decode (a codec it lacks, a
// broken compressor) fills no log. OnDrop still hears of each message.
type rejectLog struct {
	mu      sync.Mutex
	senders map[string]int // messages rejected by sender since logged
}

// senderOf names who sent d, as far as a message tells: its reply queue
// (replyTo, read from the body, or the AMQP reply_to), else its AMQP
// app_id or user_id, else only where it was published.
func senderOf(d *amqp.Delivery, replyTo string) string {
	switch {
	case replyTo != "":
		return "reply queue " + replyTo
	case d.ReplyTo != "":
		return "reply queue " + d.ReplyTo
	case d.AppId != "":
		return "app_id " + d.AppId
	case d.UserId != "":
		return "user_id " + d.UserId
	}
	return fmt.Sprintf("an unidentified sender to exchange %q, routing key %q", d.Exchange, d.RoutingKey)
}

// rejected logs that consumer dropped d, not a valid what (such as
// "request"), for err: a warning for the first message of its sender, with what identifies
// it, and at debug level for the next ones.
func (t *Transport) rejected(consumer, what string, d *amqp.Delivery, replyTo string, err error) {
	sender := senderOf(d, replyTo)
	r := &t.rejects
	r.mu.Lock()
	if r.senders == nil || len(r.senders) >= maxRejectSenders {
		r.senders = make(map[string]int)
	}
	n, seen := r.senders[sender]
	r.senders[sender] = n + 1
	r.mu.Unlock()
	level := slog.LevelWarn
	msg := "rabbit: dropping a message that is not a valid " + what + "; more from its sender are logged at debug level"
	if seen {
		level = slog.LevelDebug
		msg = "rabbit: dropping a message that is not a valid " + what
	}
	t.log.Log(context.Background(), level, msg, "consumer", consumer, "sender", sender, "rejected_from_sender", n+1,
		"exchange", d.Exchange, "routing_key", d.RoutingKey, "content_type", d.ContentType,
		"compression", d.Headers[compressionHeader], "bytes", len(d.Body), "error", err)
}
