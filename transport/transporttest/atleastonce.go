package transporttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/transport"
)

// Cases of the at-least-once mode for casts (Harness.AtLeastOnce): a cast
// is handed out as a transport.Settler and comes back until it is settled
// handled, up to the delivery limit; a copy of a cast handled already is
// dropped; a copy that arrives while the first is being handled waits for
// its outcome.

var errHandler = errors.New("transporttest: the handler failed")

// alo returns a listening at-least-once server and a client of the same
// mode, or skips the case when the harness has none.
func (e *env) alo(name string) (*server, transport.Transport) {
	e.t.Helper()
	if e.h.AtLeastOnce == nil {
		e.t.Skip("the harness has no at-least-once transport")
	}
	return e.listenOn(name, e.h.AtLeastOnce), e.h.AtLeastOnce(e.t)
}

// cast casts req to the case's topic.
func (e *env) cast(cl transport.Transport, req *message.Request) {
	e.t.Helper()
	if err := cl.Cast(e.ctx(10*time.Second), e.target(""), req); err != nil {
		e.t.Fatalf("Cast(%s) = %v", req.Method, err)
	}
}

// take returns the next request of s, failing the test after 10 s.
func (e *env) take(s *server) transport.Incoming {
	e.t.Helper()
	in, err := s.lis.Next(e.ctx(10 * time.Second))
	if err != nil {
		e.t.Fatalf("server %s: Next = %v", s.name, err)
	}
	return in
}

// settler returns in as a Settler, failing the test when it is not one.
func settler(t *testing.T, in transport.Incoming) transport.Settler {
	t.Helper()
	st, ok := in.(transport.Settler)
	if !ok {
		t.Fatalf("cast %s handed out as %T, want a transport.Settler in at-least-once mode", in.Request().Method, in)
	}
	return st
}

// nextMethod returns the method of the next request of s, settling it
// handled when it is a cast.
func (e *env) nextMethod(s *server) string {
	e.t.Helper()
	in := e.take(s)
	if st, ok := in.(transport.Settler); ok {
		st.Settle(nil)
	}
	return in.Request().Method
}

func testAtLeastOnceSettle(t *testing.T, e *env) {
	s, cl := e.alo("s1")
	e.cast(cl, &message.Request{Method: "a"})
	first := settler(t, e.take(s))
	first.Settle(errHandler)
	again := settler(t, e.take(s))
	if again.Request().Method != "a" || again.Request().UniqueID != first.Request().UniqueID {
		t.Fatalf("after a failed handling Next = %s %s, want a %s again", again.Request().Method, again.Request().UniqueID, first.Request().UniqueID)
	}
	again.Settle(nil)
	again.Settle(errHandler) // only the first Settle counts
	e.cast(cl, &message.Request{Method: "b"})
	if m := e.nextMethod(s); m != "b" {
		t.Errorf("after the handled cast Next = %s, want b: a handled cast came back", m)
	}

	// Calls stay at-most-once: acked as they are handed out.
	e.serve(s, func(_ context.Context, in transport.Incoming) {
		if _, ok := in.(transport.Settler); ok && in.Request().IsCall() {
			t.Errorf("call %s handed out as a Settler, want calls at-most-once", in.Request().Method)
		}
		e.reply(in, nil)
	})
	if _, err := cl.Call(e.ctx(10*time.Second), e.target(""), &message.Request{Method: "c"}); err != nil {
		t.Errorf("Call = %v", err)
	}
}

func testAtLeastOnceLimit(t *testing.T, e *env) {
	if e.h.DeliveryLimit <= 0 {
		t.Fatal("transporttest: Harness.DeliveryLimit must be set with AtLeastOnce")
	}
	s, cl := e.alo("s1")
	e.cast(cl, &message.Request{Method: "poison"})
	deliveries := 0
	for {
		in := e.take(s)
		if in.Request().Method != "poison" {
			if in.Request().Method != "after" {
				t.Fatalf("Next = %s, want poison or after", in.Request().Method)
			}
			settler(t, in).Settle(nil)
			break
		}
		deliveries++
		if deliveries == e.h.DeliveryLimit {
			// Sent now, so that it comes after the last delivery.
			e.cast(cl, &message.Request{Method: "after"})
		}
		if deliveries > e.h.DeliveryLimit {
			t.Fatalf("cast handed out %d times, want %d (the delivery limit)", deliveries, e.h.DeliveryLimit)
		}
		settler(t, in).Settle(errHandler)
	}
	if deliveries != e.h.DeliveryLimit {
		t.Errorf("failing cast handed out %d times, want %d (the delivery limit)", deliveries, e.h.DeliveryLimit)
	}
}

func testAtLeastOnceUnsettled(t *testing.T, e *env) {
	s1, cl := e.alo("s1")
	e.cast(cl, &message.Request{Method: "orphan"})
	taken := settler(t, e.take(s1))
	s2 := e.listenOn("s2", e.h.AtLeastOnce)
	// s1 dies with the cast unsettled: it goes to s2.
	if err := s1.lis.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	in := settler(t, e.take(s2))
	if in.Request().Method != "orphan" || in.Request().UniqueID != taken.Request().UniqueID {
		t.Fatalf("s2 got %s %s, want the cast s1 left unsettled (%s)", in.Request().Method, in.Request().UniqueID, taken.Request().UniqueID)
	}
	in.Settle(nil)
	taken.Settle(nil) // after Close: nothing to do, nothing to fail
}

func testAtLeastOnceDuplicate(t *testing.T, e *env) {
	s, cl := e.alo("s1")
	for _, handled := range []bool{true, false} {
		dup := &message.Request{Method: "dup", UniqueID: newHex(t)}
		e.cast(cl, dup)
		first := settler(t, e.take(s))
		// A second copy while the first is being handled waits for its
		// outcome; e.cast returns once the broker has it.
		e.cast(cl, dup)
		if handled {
			first.Settle(nil)
		} else {
			first.Settle(errHandler)
			// One copy runs again, the other then is a duplicate.
			again := settler(t, e.take(s))
			if again.Request().UniqueID != dup.UniqueID {
				t.Fatalf("after a failed handling Next = %s %s, want dup %s", again.Request().Method, again.Request().UniqueID, dup.UniqueID)
			}
			again.Settle(nil)
		}
		e.cast(cl, &message.Request{Method: "after"})
		if m := e.nextMethod(s); m != "after" {
			t.Errorf("first copy handled %v: Next = %s, want after: a copy of a handled cast ran", handled, m)
		}
	}
}

// newHex returns 32 random hex digits, as a _unique_id.
func newHex(t *testing.T) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("rand.Read: %v", err)
	}
	return hex.EncodeToString(b[:])
}

// testAtLeastOnceStop: a cast being handled when its listener stops (a
// graceful shutdown) can still be settled until Close, and is then gone;
// one settled failed after Stop goes to another listener.
func testAtLeastOnceStop(t *testing.T, e *env) {
	s1, cl := e.alo("s1")
	e.cast(cl, &message.Request{Method: "done"})
	e.cast(cl, &message.Request{Method: "failed"})
	done := settler(t, e.take(s1))
	failed := settler(t, e.take(s1))
	if err := s1.lis.Stop(); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	done.Settle(nil)
	failed.Settle(errHandler)
	if err := s1.lis.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	s2 := e.listenOn("s2", e.h.AtLeastOnce)
	if m := e.nextMethod(s2); m != "failed" {
		t.Fatalf("after s1 stopped, s2 got %s, want failed", m)
	}
	e.cast(cl, &message.Request{Method: "after"})
	if m := e.nextMethod(s2); m != "after" {
		t.Errorf("s2 got %s, want after: a cast settled after Stop came back", m)
	}
}
