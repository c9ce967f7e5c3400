package transport

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/warrenrpc/warren/internal/wire"
)

func TestTimeoutErrorMatches(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &TimeoutError{MsgID: "m"})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not match ErrTimeout and context.DeadlineExceeded", err)
	}
	if errors.Is(err, ErrClosed) {
		t.Errorf("%v matches ErrClosed", err)
	}
}

func TestNoRouteErrorMatches(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &NoRouteError{Exchange: "openstack", RoutingKey: "t"})
	var nr *NoRouteError
	if !errors.Is(err, ErrNoRoute) || !errors.As(err, &nr) || nr.RoutingKey != "t" {
		t.Errorf("%v does not match ErrNoRoute / *NoRouteError", err)
	}
}

func TestNoConsumerErrorMatches(t *testing.T) {
	err := fmt.Errorf("wrapped: %w (%w)", &NoConsumerError{Exchange: "openstack", RoutingKey: "t.s", Queue: "t.s", Idle: time.Second}, ErrNotSent)
	var nc *NoConsumerError
	if !errors.Is(err, ErrNoConsumer) || !errors.Is(err, ErrNoRoute) || !errors.As(err, &nc) || nc.Queue != "t.s" || !errors.Is(err, ErrNotSent) {
		t.Errorf("%v does not match ErrNoConsumer / ErrNoRoute / *NoConsumerError / ErrNotSent", err)
	}
	if errors.Is(&NoRouteError{}, ErrNoConsumer) {
		t.Errorf("a NoRouteError matches ErrNoConsumer")
	}
}

func TestBlockedErrorMatches(t *testing.T) {
	err := fmt.Errorf("wrapped: %w: %w", ErrNotSent, &BlockedError{Reason: "low on memory"})
	var be *BlockedError
	if !errors.Is(err, ErrBlocked) || !errors.As(err, &be) || be.Reason != "low on memory" || !errors.Is(err, ErrNotSent) {
		t.Errorf("%v does not match ErrBlocked / *BlockedError / ErrNotSent", err)
	}
	if errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("%v matches ErrOutcomeUnknown", err)
	}
}

// TestDecodeErrorsMatchTransport checks that what the wire codec reports
// matches transport's sentinels, so a user matches a decoding failure
// without importing an internal package.
func TestDecodeErrorsMatchTransport(t *testing.T) {
	cases := []struct {
		body string
		want error
	}{
		{`not json`, ErrMalformed},
		{`{"oslo.version": "2.0", "oslo.message": "{\"result\": 1}"}`, ErrMalformed},
		{`{"oslo.version": "3.0", "oslo.message": "{}"}`, ErrUnsupportedEnvelope},
	}
	for _, c := range cases {
		_, err := wire.DecodeReply([]byte(c.body))
		if !errors.Is(fmt.Errorf("rabbit: reply: %w", err), c.want) {
			t.Errorf("DecodeReply(%q) = %v, want an error matching %v", c.body, err, c.want)
		}
		_, err = wire.DecodeRequest([]byte(c.body))
		if !errors.Is(err, c.want) {
			t.Errorf("DecodeRequest(%q) = %v, want an error matching %v", c.body, err, c.want)
		}
	}
}
