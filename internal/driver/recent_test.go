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
