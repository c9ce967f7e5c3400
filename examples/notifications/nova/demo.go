package nova

import (
	"context"
	"fmt"
	"time"

	"github.com/warrenrpc/warren/notify"
)

// Flavors are the flavors the sample instances use.
var Flavors = []Flavor{
	{FlavorID: "1", Name: "m1.small", MemoryMB: 2048, VCPUs: 1, RootGB: 20},
	{FlavorID: "2", Name: "m1.medium", MemoryMB: 4096, VCPUs: 2, RootGB: 40},
	{FlavorID: "3", Name: "m1.large", MemoryMB: 8192, VCPUs: 4, RootGB: 80},
}

// Sample returns the lifecycles of n instances of two projects, each
// left running after its power-on (its delete events are left out), so
// that a ledger ends with usage to show.
func Sample(n int, host string) []Event {
	var events []Event
	for i := range n {
		uuid := fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)
		project := []string{"demo", "admin"}[i%2]
		lc := Lifecycle(uuid, fmt.Sprintf("vm%d", i+1), project, host, Flavors[i%len(Flavors)], time.Now())
		events = append(events, lc[:4]...)
	}
	return events
}

// PublishSample sends Sample(n, host) through a notifier on tr.
func PublishSample(ctx context.Context, n *notify.Notifier, count int, host string) (int, error) {
	events := Sample(count, host)
	return len(events), Publish(ctx, n, events)
}
