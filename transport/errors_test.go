package transport

import (
	"context"
	"errors"
	"fmt"
	"testing"
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
