package rabbit

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

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
		{"broker refusal", &amqp.Error{Code: amqp.NotAllowed, Reason: "NOT_ALLOWED", Server: true}, false},
		{"no answer", errors.New("the broker did not answer within 5s"), false},
	}
	for _, c := range cases {
		if got := gone(c.err); got != c.want {
			t.Errorf("gone(%s: %v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
