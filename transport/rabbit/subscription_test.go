package rabbit

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestGone pins which errors of a channel close say the connection is
// gone, so that stopping a listener during an outage is not a failure.
func TestGone(t *testing.T) {
	pipe := &net.OpError{Op: "write", Net: "tcp", Err: fmt.Errorf("write: %w", syscall.EPIPE)}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, true},
		{"closed", amqp.ErrClosed, true},
		{"broken pipe", pipe, true},
		{"reset", fmt.Errorf("reading: %w", syscall.ECONNRESET), true},
		{"eof", io.EOF, true},
		{"reader failed", &amqp.Error{Code: amqp.FrameError, Reason: "EOF"}, true},
		{"broker frame error", &amqp.Error{Code: amqp.FrameError, Reason: "FRAME_ERROR", Server: true}, false},
		{"broker refusal", &amqp.Error{Code: amqp.NotAllowed, Reason: "NOT_ALLOWED", Server: true}, false},
		{"no answer", errors.New("the broker did not answer within 5s"), false},
	}
	for _, c := range cases {
		if got := gone(c.err); got != c.want {
			t.Errorf("gone(%s: %v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// TestSubscriptionCheckDuringStop runs the queue check while stop cancels
// the consumers and while close closes the channel, many times: amqp091
// pairs a channel's synchronous answers with its requests in order, so
// the two must not overlap, or one takes the other's answer (503
// "unexpected command received").
func TestSubscriptionCheckDuringStop(t *testing.T) {
	tr := dial(t)
	q := unique("subcheck")
	t.Cleanup(func() { deleteQueue(t, q) })
	s := tr.sess.Load()
	for i := range 30 {
		keep := i%2 == 0
		sub := tr.newSubscription("check", []string{q}, 0, func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare(q, false, false, false, false, nil)
			return err
		})
		if err := sub.open(within(t, 10*time.Second), s); err != nil {
			t.Fatalf("open %d = %v", i, err)
		}
		checked := make(chan struct{})
		go func() {
			defer close(checked)
			for range 5 {
				sub.verify()
			}
		}()
		if err := sub.stop(keep); err != nil {
			t.Fatalf("stop(%v) %d during checks = %v", keep, i, err)
		}
		<-checked
		if err := sub.close(); err != nil {
			t.Fatalf("close %d after stop(%v) = %v", i, keep, err)
		}
	}
}
