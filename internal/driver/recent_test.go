package driver

import (
	"strconv"
	"testing"
)

func TestRecent(t *testing.T) {
	var r Recent
	if !r.Add("a") || r.Add("a") {
		t.Fatalf("Add(a) twice = not new the first time or new the second")
	}
	if !r.Add("") || !r.Add("") {
		t.Errorf("Add(\"\") = false, want every empty id new")
	}
	for i := range RecentSize - 1 {
		if !r.Add(strconv.Itoa(i)) {
			t.Fatalf("Add(%d) = false, want new", i)
		}
	}
	if r.Add("a") {
		t.Errorf("Add(a) after %d other ids = true, want it still remembered", RecentSize-1)
	}
	if !r.Add("one more") || !r.Add("a") {
		t.Errorf("Add(a) after %d other ids = false, want it forgotten", RecentSize)
	}
}

func TestSettled(t *testing.T) {
	var s Settled
	var outcomes []bool
	park := func(handled bool) { outcomes = append(outcomes, handled) }

	if v := s.Begin("a", park); v != Run {
		t.Fatalf("Begin(a) = %v, want Run", v)
	}
	if v := s.Begin("a", park); v != Parked {
		t.Fatalf("Begin(a) while running = %v, want Parked", v)
	}
	s.End("a", false)
	if len(outcomes) != 1 || outcomes[0] {
		t.Fatalf("after End(a, false) the parked copy heard %v, want [false]", outcomes)
	}
	if v := s.Begin("a", park); v != Run {
		t.Fatalf("Begin(a) after a failed handling = %v, want Run: it must run again", v)
	}
	if v := s.Begin("a", park); v != Parked {
		t.Fatalf("Begin(a) while running again = %v, want Parked", v)
	}
	s.End("a", true)
	if len(outcomes) != 2 || !outcomes[1] {
		t.Fatalf("after End(a, true) the parked copy heard %v, want [false true]", outcomes)
	}
	if v := s.Begin("a", park); v != Duplicate {
		t.Errorf("Begin(a) after it was handled = %v, want Duplicate", v)
	}
	for range 2 {
		if v := s.Begin("", park); v != Run {
			t.Errorf("Begin(\"\") = %v, want Run every time", v)
		}
	}
	s.End("", true)
	s.End("never begun", true)
	if v := s.Begin("never begun", park); v != Duplicate {
		t.Errorf("Begin after End(handled) of an id = %v, want Duplicate", v)
	}
	if len(outcomes) != 2 {
		t.Errorf("park functions ran %d times, want 2", len(outcomes))
	}
}
