package benchsuite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenrpc/warren/internal/wire"
)

// The oslo.messaging 2.0 messages of the JSON baseline, as a hand-written
// peer of oslo.messaging services would declare them for encoding/json.
type (
	osloEnvelope struct {
		Version string `json:"oslo.version"`
		Message string `json:"oslo.message"`
	}
	osloRequest struct {
		Method   string          `json:"method"`
		Args     json.RawMessage `json:"args"`
		MsgID    string          `json:"_msg_id,omitempty"`
		ReplyQ   string          `json:"_reply_q,omitempty"`
		UniqueID string          `json:"_unique_id"`
	}
	osloReply struct {
		Result  json.RawMessage `json:"result"`
		Failure *string         `json:"failure"`
		Ending  bool            `json:"ending"`
		MsgID   string          `json:"_msg_id"`
	}
)

// wrap encodes msg as the oslo.message of an oslo.messaging 2.0 envelope.
func wrap(msg any) ([]byte, error) {
	inner, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return json.Marshal(osloEnvelope{Version: "2.0", Message: string(inner)})
}

// unwrap decodes the oslo.message of the envelope body into msg.
func unwrap(body []byte, msg any) error {
	var env osloEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return err
	}
	if env.Version != "2.0" {
		return fmt.Errorf("oslo.version %q", env.Version)
	}
	return json.Unmarshal([]byte(env.Message), msg)
}

// startRawJSONServer starts the JSON baseline's server: the baseline
// server's consumer (one channel, a tuned prefetch, multiple acks), which
// decodes each request's envelope, message and arguments with
// encoding/json, calls echo, and replies to the request's _reply_q with
// the result in a reply envelope, as an oslo.messaging server does.
func startRawJSONServer(url, queue string) (*rawServer, error) {
	return startConsumer(url, queue, func(d *amqp.Delivery, out *amqp.Channel) error {
		var req osloRequest
		if err := unwrap(d.Body, &req); err != nil || req.Method != echoMethod || req.ReplyQ == "" {
			return nil // not a call of echo: dropped
		}
		var args echoArgs
		if err := json.Unmarshal(req.Args, &args); err != nil {
			return nil
		}
		result, err := json.Marshal(args)
		if err != nil {
			return err
		}
		body, err := wrap(osloReply{Result: result, Ending: true, MsgID: req.MsgID})
		if err != nil {
			return err
		}
		return out.Publish("", req.ReplyQ, false, false, amqp.Publishing{ContentType: "application/json", Body: body})
	})
}

// rawJSONClient is the JSON baseline's client: the baseline client's
// connection, channel and private reply queue, with requests and replies
// in oslo.messaging 2.0 envelopes encoded and decoded with encoding/json,
// the reply queue in the request's _reply_q and replies matched by their
// _msg_id, as an oslo.messaging client does.
type rawJSONClient struct {
	conn    *amqp.Connection
	ch      *amqp.Channel
	replyTo string

	mu      sync.Mutex
	pending map[string]chan *osloReply
	done    chan struct{}
}

func newRawJSONClient(url string) (*rawJSONClient, error) {
	r, err := openReplies(url, false, nil)
	if err != nil {
		return nil, fmt.Errorf("raw JSON client: %w", err)
	}
	c := &rawJSONClient{conn: r.conn, ch: r.ch, replyTo: r.queue, pending: make(map[string]chan *osloReply), done: make(chan struct{})}
	go c.route(r.deliveries)
	return c, nil
}

func (c *rawJSONClient) route(replies <-chan amqp.Delivery) {
	defer close(c.done)
	for d := range replies {
		r := new(osloReply)
		if unwrap(d.Body, r) != nil {
			continue
		}
		c.mu.Lock()
		w := c.pending[r.MsgID]
		delete(c.pending, r.MsgID)
		c.mu.Unlock()
		if w != nil {
			w <- r
		}
	}
}

// call calls echo with args through the control exchange with routing key
// key, and waits for its result or ctx's end.
func (c *rawJSONClient) call(ctx context.Context, exchange, key string, args echoArgs) error {
	encoded, err := json.Marshal(args)
	if err != nil {
		return err
	}
	id := wire.NewID()
	body, err := wrap(osloRequest{Method: echoMethod, Args: encoded, MsgID: id, ReplyQ: c.replyTo, UniqueID: wire.NewID()})
	if err != nil {
		return err
	}
	w := make(chan *osloReply, 1)
	c.mu.Lock()
	c.pending[id] = w
	err = c.ch.Publish(exchange, key, false, false, amqp.Publishing{ContentType: "application/json", Body: body})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case r := <-w:
		if r.Failure != nil {
			return errors.New(*r.Failure)
		}
		var out echoArgs
		return json.Unmarshal(r.Result, &out)
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return ctx.Err()
	}
}

func (c *rawJSONClient) close() {
	c.conn.Close()
	<-c.done
}
