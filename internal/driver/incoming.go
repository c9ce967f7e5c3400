package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/transport"
)

// Replier is a driver's side of answering requests: how it publishes a
// reply and what it allows. A driver makes one and builds each received
// request's Incoming with it.
type Replier struct {
	// Name prefixes the errors Reply and Heartbeat make, such as "rabbit".
	Name string
	// Limit is the largest reply body, in bytes.
	Limit int
	// Log receives a line for each reply dropped because its caller is
	// gone. Nil discards them.
	Log *slog.Logger
	// Publish sends body, an encoded reply or heartbeat, to reply address
	// replyTo. It fails with an error matching transport.ErrNoRoute when
	// it finds the address gone (the caller's transport closed); a driver
	// that learns it only later, as transport/rabbit, logs it itself.
	Publish func(ctx context.Context, replyTo string, body []byte) error
}

// Incoming returns req, received with deadline (zero: none), as a
// transport.Incoming whose replies go through r.
func (r *Replier) Incoming(req *message.Request, deadline time.Time) *Incoming {
	return &Incoming{r: r, req: req, deadline: deadline}
}

// Incoming is a received request: the transport.Incoming of every driver.
// Its methods may be called from any goroutine.
type Incoming struct {
	r        *Replier
	req      *message.Request
	deadline time.Time
	replied  atomic.Bool
}

var _ transport.Incoming = (*Incoming)(nil)

// Request returns the decoded request.
func (in *Incoming) Request() *message.Request { return in.req }

// Deadline returns when the caller stops waiting; zero means none.
func (in *Incoming) Deadline() time.Time { return in.deadline }

// Reply sends the final reply to the caller of a call; for a cast it does
// nothing. A nil r is an empty result. A reply that cannot be encoded or
// is larger than the driver's limit (transport.ErrMessageTooLarge) is not
// sent and does not count, so another can follow. A second Reply fails
// with transport.ErrReplied. A reply whose caller is gone is dropped with a
// log line and Reply returns nil.
func (in *Incoming) Reply(ctx context.Context, r *message.Reply) error {
	if !in.req.IsCall() {
		return nil
	}
	if in.replied.Load() {
		return in.errReplied()
	}
	if r == nil {
		r = &message.Reply{}
	}
	body, err := wire.EncodeReply(in.req.MsgID, r)
	if err != nil {
		return fmt.Errorf("%s: encoding the reply to message %s: %w", in.r.Name, in.req.MsgID, err)
	}
	if err := CheckSize(len(body), in.r.Limit); err != nil {
		return fmt.Errorf("%s: reply to message %s: %w", in.r.Name, in.req.MsgID, err)
	}
	if in.replied.Swap(true) {
		return in.errReplied()
	}
	return in.send(ctx, "reply", body)
}

func (in *Incoming) errReplied() error {
	return fmt.Errorf("%s: reply to message %s: %w", in.r.Name, in.req.MsgID, transport.ErrReplied)
}

// Heartbeat tells a call-monitoring caller the request is being worked
// on. It sends nothing for a cast, for a call without CallMonitor (an
// oslo.messaging caller that did not ask fails on one) or after Reply.
func (in *Incoming) Heartbeat(ctx context.Context) error {
	if !in.req.IsCall() || in.req.CallMonitor <= 0 || in.replied.Load() {
		return nil
	}
	body, err := wire.EncodeHeartbeat(in.req.MsgID)
	if err != nil {
		return fmt.Errorf("%s: encoding a heartbeat for message %s: %w", in.r.Name, in.req.MsgID, err)
	}
	return in.send(ctx, "heartbeat", body)
}

func (in *Incoming) send(ctx context.Context, kind string, body []byte) error {
	err := in.r.Publish(ctx, in.req.ReplyTo, body)
	if errors.Is(err, transport.ErrNoRoute) {
		if in.r.Log != nil {
			in.r.Log.Warn(in.r.Name+": dropping a "+kind+": the caller's reply queue is gone",
				"msg_id", in.req.MsgID, "reply_queue", in.req.ReplyTo)
		}
		return nil
	}
	return err
}
