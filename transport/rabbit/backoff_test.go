package rabbit

import (
	"testing"
	"time"

	"github.com/warrenrpc/warren/transport"
)

func TestBackoffDelay(t *testing.T) {
	cases := []struct {
		name   string
		b      Backoff
		failed int
		rnd    float64
		want   time.Duration
	}{
		{"defaults, first, low", Backoff{}, 1, 0, 50 * time.Millisecond},
		{"defaults, first, high", Backoff{}, 1, 0.999999, 100 * time.Millisecond},
		{"defaults, third", Backoff{}, 3, 0, 200 * time.Millisecond},
		{"defaults, capped", Backoff{}, 50, 0, 500 * time.Millisecond},
		{"defaults, capped, high", Backoff{}, 50, 0.999999, time.Second},
		{"custom", Backoff{Initial: time.Second, Max: 30 * time.Second}, 4, 0.5, 6 * time.Second},
		{"custom, capped", Backoff{Initial: time.Second, Max: 30 * time.Second}, 10, 0, 15 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.b.delay(c.failed, func() float64 { return c.rnd })
			if got.Round(time.Millisecond) != c.want {
				t.Errorf("%+v.delay(%d, %v) = %v, want %v", c.b, c.failed, c.rnd, got, c.want)
			}
		})
	}
}

func TestFailoverOrder(t *testing.T) {
	hosts := []transport.Host{{Host: "a", Port: 1}, {Host: "b", Port: 1}, {Host: "c", Port: 1}}
	names := func(o *hostOrder, n int) string {
		var s string
		for range n {
			s += o.next().Host
		}
		return s
	}
	if got := names(newHostOrder(hosts, RoundRobin), 7); got != "abcabca" {
		t.Errorf("round robin = %q, want %q", got, "abcabca")
	}
	// A reversing shuffle shows that every pass is shuffled anew, each
	// host once per pass.
	o := newHostOrder(hosts, Shuffle)
	passes := 0
	o.shuffle = func(n int, swap func(i, j int)) {
		passes++
		for i := range n / 2 {
			swap(i, n-1-i)
		}
	}
	if got := names(o, 6); got != "cbacba" || passes != 2 {
		t.Errorf("shuffle = %q after %d shuffles, want %q after 2", got, passes, "cbacba")
	}
}

func TestFailoverURLOption(t *testing.T) {
	cases := []struct {
		query string
		want  FailoverStrategy
		ok    bool
	}{
		{"kombu_failover_strategy=round-robin", RoundRobin, true},
		{"kombu_failover_strategy=shuffle", Shuffle, true},
		{"kombu_failover_strategy=random", 0, false},
	}
	for _, c := range cases {
		u, err := transport.ParseURL("amqp://h/?" + c.query)
		if err != nil {
			t.Fatalf("ParseURL = %v", err)
		}
		s := defaultSettings()
		err = s.applyURL(u)
		if (err == nil) != c.ok || (c.ok && s.failover != c.want) {
			t.Errorf("applyURL(%q) = %v, failover %v; want ok %v, %v", c.query, err, s.failover, c.ok, c.want)
		}
	}
}

func TestNextCheck(t *testing.T) {
	opened := time.Unix(1000, 0)
	cases := []struct {
		name  string
		after time.Duration // from opened to the check
		last  time.Duration
		want  time.Duration
	}{
		{"first", firstCheck, firstCheck, firstCheck},
		{"late in the window", checkWindow - time.Millisecond, firstCheck, firstCheck},
		{"window over", checkWindow, firstCheck, 2 * firstCheck},
		{"doubling", 2 * checkWindow, 4 * time.Second, 8 * time.Second},
		{"capped", 10 * time.Minute, 45 * time.Second, lastCheck},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := nextCheck(opened, opened.Add(c.after), c.last); got != c.want {
				t.Errorf("nextCheck(opened, opened+%v, %v) = %v, want %v", c.after, c.last, got, c.want)
			}
		})
	}
}
