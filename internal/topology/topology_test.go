package topology

import (
	"regexp"
	"testing"

	"github.com/warrenrpc/warren/target"
)

func TestRouteOf(t *testing.T) {
	tests := []struct {
		name string
		tgt  target.Target
		want Route
	}{
		{"topic", target.Target{Topic: "calc"}, Route{Exchange: "openstack", Key: "calc"}},
		{"server", target.Target{Topic: "calc", Server: "s1"}, Route{Exchange: "openstack", Key: "calc.s1"}},
		{"exchange", target.Target{Exchange: "nova", Topic: "calc", Server: "s1"}, Route{Exchange: "nova", Key: "calc.s1"}},
		{"fanout", target.Target{Exchange: "nova", Topic: "calc", Fanout: true}, Route{Exchange: "calc_fanout", Fanout: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RouteOf(tt.tgt, "openstack"); got != tt.want {
				t.Errorf("RouteOf(%v) = %+v, want %+v", tt.tgt, got, tt.want)
			}
		})
	}
}

func TestServerOf(t *testing.T) {
	tgt := target.Target{Topic: "calc", Server: "s1"}
	got := ServerOf(tgt, "openstack")
	if got.ControlExchange != "openstack" || got.ServerQueue != "calc.s1" || got.TopicQueue != "calc" ||
		got.FanoutExchange != "calc_fanout" || got.FanoutKey != "calc" {
		t.Errorf("ServerOf(%v) = %+v", tgt, got)
	}
	if !regexp.MustCompile(`^calc_fanout_[0-9a-f]{32}$`).MatchString(got.FanoutQueue) {
		t.Errorf("FanoutQueue = %q, want calc_fanout_<32 hex>", got.FanoutQueue)
	}
	if again := ServerOf(tgt, "openstack"); again.FanoutQueue == got.FanoutQueue {
		t.Errorf("two listeners share fanout queue %q", got.FanoutQueue)
	}
	if q := ReplyQueue(); !regexp.MustCompile(`^reply_[0-9a-f]{32}$`).MatchString(q) {
		t.Errorf("ReplyQueue() = %q, want reply_<32 hex>", q)
	}
}

func TestNotificationNames(t *testing.T) {
	cases := []struct {
		topic, priority, pool string
		key, queue            string
	}{
		{"notifications", "info", "", "notifications.info", "notifications.info"},
		{"notifications", "error", "billing", "notifications.error", "billing"},
		{"versioned_notifications", "sample", "", "versioned_notifications.sample", "versioned_notifications.sample"},
	}
	for _, c := range cases {
		if got := NotificationKey(c.topic, c.priority); got != c.key {
			t.Errorf("NotificationKey(%q, %q) = %q, want %q", c.topic, c.priority, got, c.key)
		}
		if got := NotificationQueue(c.topic, c.priority, c.pool); got != c.queue {
			t.Errorf("NotificationQueue(%q, %q, %q) = %q, want %q", c.topic, c.priority, c.pool, got, c.queue)
		}
	}
}
