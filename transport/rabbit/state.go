package rabbit

import (
	"context"
	"fmt"
	"time"
)

// State is where a transport's connection to the broker stands.
type State int

// The states of a transport. Dial returns a transport in StateReady; it
// goes to StateConnecting when the connection drops and back to
// StateReady once it is up again, to StateBlocked while the broker holds
// publishes back, and ends in StateFailed (the reconnection attempts the
// Reconnect option allows ran out) or StateClosed.
const (
	// StateConnecting means no connection is up: the transport is dialing
	// or waiting to dial again. Calls and casts wait for the connection
	// within their ctx.
	StateConnecting State = iota
	// StateReady means both connections are up.
	StateReady
	// StateBlocked means the connections are up but the broker holds
	// publishes back (connection.blocked, a resource alarm). Listeners
	// still receive; publishes wait within their ctx.
	StateBlocked
	// StateFailed means the transport gave up reconnecting; Err says why.
	StateFailed
	// StateClosed means Close was called.
	StateClosed
)

var stateNames = [...]string{"connecting", "ready", "blocked", "failed", "closed"}

// String returns the state's name in lower case, as logged.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// StateChange is one transition of a transport's state, as OnStateChange
// reports it.
type StateChange struct {
	// State is the new state.
	State State
	// Broker is the "host:port" the transport is connected to, or was
	// connected to when the connection dropped; empty before the first
	// connection.
	Broker string
	// Err is why the connection dropped (StateConnecting) or why the
	// transport gave up (StateFailed); nil otherwise.
	Err error
	// Reason is the broker's reason for blocking (StateBlocked); empty
	// otherwise.
	Reason string
	// At is when the transition happened.
	At time.Time
}

// OnStateChange sets a function the transport calls with every change of
// its state, in order, from a goroutine of its own: a slow f delays later
// reports, never the transport. The transport also logs each transition.
func OnStateChange(f func(StateChange)) Option {
	return func(s *settings) { s.onState = f }
}

// State returns the transport's current state.
func (t *Transport) State() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

// Err returns why the transport cannot be used any more: an error
// matching transport.ErrClosed after Close, or one matching
// transport.ErrConnectionLost once it gave up reconnecting. It returns nil
// while the transport is connected or reconnecting.
func (t *Transport) Err() error { return t.usable() }

// Ready waits until the transport is connected (StateReady or
// StateBlocked) and returns nil, or returns Err once the transport is
// closed or failed, or ctx's error.
func (t *Transport) Ready(ctx context.Context) error {
	_, err := t.session(ctx)
	return err
}

// setState records st and reports it to the log and to OnStateChange.
// The caller holds t.mu.
func (t *Transport) setState(st State, broker string, err error, reason string) {
	if t.state == st && st != StateBlocked {
		return
	}
	t.state = st
	ev := StateChange{State: st, Broker: broker, Err: err, Reason: reason, At: time.Now()}
	switch st {
	case StateReady:
		t.log.Info("rabbit: connected", "state", st, "broker", broker)
	case StateConnecting:
		if err != nil {
			t.log.Warn("rabbit: connection lost; reconnecting", "state", st, "broker", broker, "error", err)
		}
	case StateBlocked:
		t.log.Warn("rabbit: the broker blocks publishing", "state", st, "broker", broker, "reason", reason)
	case StateFailed:
		t.log.Error("rabbit: gave up reconnecting", "state", st, "error", err)
	case StateClosed:
		t.log.Debug("rabbit: closed", "state", st)
	}
	if t.s.onState != nil {
		t.events = append(t.events, ev)
		select {
		case t.eventsReady <- struct{}{}:
		default:
		}
	}
}

// reportStates hands the queued state changes to OnStateChange, in order,
// until the transport is closed.
func (t *Transport) reportStates() {
	for {
		var closing bool
		select {
		case <-t.eventsReady:
		case <-t.done:
			closing = true
		}
		t.mu.Lock()
		evs := t.events
		t.events = nil
		t.mu.Unlock()
		for _, ev := range evs {
			t.s.onState(ev)
		}
		if closing {
			return
		}
	}
}
