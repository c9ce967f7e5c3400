package driver

import "sync"

// Verdict is what a listener in at-least-once mode does with a cast it
// received, as Settled.Begin decides it.
type Verdict int

const (
	// Run hands the cast out: its _unique_id is neither handled nor being
	// handled.
	Run Verdict = iota
	// Duplicate drops the cast (acked): a cast with its _unique_id was
	// handled already.
	Duplicate
	// Parked holds the cast, neither acked nor handed out, until the
	// handling of the cast with its _unique_id ends: the park function
	// given to Begin then says how it ended.
	Parked
)

// Settled remembers the _unique_id of at-least-once casts, so that a
// redelivered cast runs once: a listener calls Begin on receipt and End
// when the handler returns. An id enters the window of handled ids only
// when its handling succeeded, so that a cast whose handling failed or
// never ended (its server died) runs again when redelivered, and one that
// completed is dropped even when its ack was lost with the connection. A
// copy delivered while the first is being handled (a redelivery after a
// lost connection) waits for the outcome instead of running beside it.
// The zero value is ready to use; it is safe for concurrent use.
type Settled struct {
	mu      sync.Mutex
	handled Recent
	running map[string][]func(handled bool) // parked copies, by id being handled
}

// Begin reports what to do with a cast of id just received. For Parked,
// park runs once the handling under way ends, with its outcome: a listener
// acks the copy when it was handled and requeues it otherwise. An empty id
// is always Run and never tracked.
func (s *Settled) Begin(id string, park func(handled bool)) Verdict {
	if id == "" {
		return Run
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handled.seen(id) {
		return Duplicate
	}
	if parked, ok := s.running[id]; ok {
		s.running[id] = append(parked, park)
		return Parked
	}
	if s.running == nil {
		s.running = make(map[string][]func(bool))
	}
	s.running[id] = nil
	return Run
}

// End records how the handling of id that Begin let run ended, and runs
// the park functions of the copies held meanwhile, on the caller's
// goroutine.
func (s *Settled) End(id string, handled bool) {
	if id == "" {
		return
	}
	s.mu.Lock()
	parked := s.running[id]
	delete(s.running, id)
	if handled {
		s.handled.Add(id)
	}
	s.mu.Unlock()
	for _, park := range parked {
		park(handled)
	}
}
