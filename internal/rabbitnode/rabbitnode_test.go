package rabbitnode

import (
	"errors"
	"testing"
)

// TestReserve reserves the two last ports of the chaos tests' range,
// which their runs (three nodes at most at a time) leave alone.
func TestReserve(t *testing.T) {
	const first, last, offset = 5718, 5719, 20000
	a, err := Reserve(first, last, offset)
	if err != nil {
		t.Fatalf("Reserve = %v", err)
	}
	b, err := Reserve(first, last, offset)
	if err != nil {
		t.Fatalf("second Reserve = %v", err)
	}
	defer b.Release()
	if a.Port == b.Port || a.DistPort != a.Port+offset || b.DistPort != b.Port+offset {
		t.Fatalf("Reserve gave ports %d/%d and %d/%d, want two different ports with their distribution ports %d above", a.Port, a.DistPort, b.Port, b.DistPort, offset)
	}
	if c, err := Reserve(first, last, offset); !errors.Is(err, ErrNoFreePort) {
		t.Fatalf("Reserve with the range held = %v, %v, want ErrNoFreePort", c, err)
	}
	a.Release()
	c, err := Reserve(first, last, offset)
	if err != nil {
		t.Fatalf("Reserve after Release = %v", err)
	}
	defer c.Release()
	if c.Port != a.Port {
		t.Errorf("Reserve after Release gave port %d, want the released %d", c.Port, a.Port)
	}
}
