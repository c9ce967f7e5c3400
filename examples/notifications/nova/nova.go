// Package nova models the compute.instance.* notifications a Nova compute
// service sends, with payloads shaped like Nova's versioned notifications
// (nova_object.name, namespace, version and data), and keeps a usage
// ledger from them: the starting point of a billing or capacity service.
package nova

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/warrenrpc/warren/notify"
)

// Topic is the topic Nova's notifications go to by default.
const Topic = notify.DefaultTopic

// Object is Nova's versioned-object envelope around a payload.
type Object[T any] struct {
	// Name is the payload class, such as "InstanceActionPayload".
	Name string `json:"nova_object.name"`
	// Namespace is always "nova".
	Namespace string `json:"nova_object.namespace"`
	// Version is the payload class version.
	Version string `json:"nova_object.version"`
	// Data holds the fields.
	Data T `json:"nova_object.data"`
}

// Flavor is the fields of Nova's FlavorPayload that usage needs.
type Flavor struct {
	FlavorID string `json:"flavorid"`
	Name     string `json:"name"`
	MemoryMB int    `json:"memory_mb"`
	VCPUs    int    `json:"vcpus"`
	RootGB   int    `json:"root_gb"`
}

// Instance is the fields of Nova's InstanceActionPayload that usage needs.
type Instance struct {
	UUID        string         `json:"uuid"`
	DisplayName string         `json:"display_name"`
	Host        string         `json:"host"`
	TenantID    string         `json:"tenant_id"`
	UserID      string         `json:"user_id"`
	State       string         `json:"state"`
	PowerState  string         `json:"power_state"`
	TaskState   *string        `json:"task_state"`
	Flavor      Object[Flavor] `json:"flavor"`
	LaunchedAt  *string        `json:"launched_at"`
}

// Payload is an instance action notification's payload.
type Payload = Object[Instance]

// Event is one notification to send.
type Event struct {
	Priority  notify.Priority
	EventType string
	Payload   Payload
}

// Lifecycle returns the notifications of one instance's life: create
// (start, end), power off, power on and delete (start, end).
func Lifecycle(uuid, name, project, host string, flavor Flavor, at time.Time) []Event {
	inst := Instance{
		UUID: uuid, DisplayName: name, Host: host, TenantID: project, UserID: "user-" + project,
		Flavor: Object[Flavor]{Name: "FlavorPayload", Namespace: "nova", Version: "1.4", Data: flavor},
	}
	step := func(eventType, state, power string) Event {
		i := inst
		i.State, i.PowerState = state, power
		if state != "building" {
			launched := at.UTC().Format("2006-01-02T15:04:05Z")
			i.LaunchedAt = &launched
		}
		return Event{notify.Info, eventType, Payload{Name: "InstanceActionPayload", Namespace: "nova", Version: "1.8", Data: i}}
	}
	return []Event{
		step("compute.instance.create.start", "building", "pending"),
		step("compute.instance.create.end", "active", "running"),
		step("compute.instance.power_off.end", "stopped", "shutdown"),
		step("compute.instance.power_on.end", "active", "running"),
		step("compute.instance.delete.start", "active", "running"),
		step("compute.instance.delete.end", "deleted", "shutdown"),
	}
}

// Publish sends events through n, in order, with a request context naming
// the project.
func Publish(ctx context.Context, n *notify.Notifier, events []Event) error {
	for _, e := range events {
		reqCtx := map[string]any{"project_id": e.Payload.Data.TenantID, "request_id": "req-" + e.Payload.Data.UUID}
		if err := n.Notify(ctx, e.Priority, reqCtx, e.EventType, e.Payload); err != nil {
			return err
		}
	}
	return nil
}

// Usage is what one project runs.
type Usage struct {
	Instances, VCPUs, MemoryMB int
}

// Ledger keeps the usage of each project from instance notifications. It
// is safe for concurrent use.
type Ledger struct {
	mu      sync.Mutex
	running map[string]Instance // by uuid, instances that use resources
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{running: make(map[string]Instance)} }

// Endpoint returns the listener endpoint that feeds the ledger: INFO
// compute.instance.* notifications. report, when not nil, is called after
// each one with a line describing it.
func (l *Ledger) Endpoint(report func(line string)) notify.Endpoint {
	return notify.Endpoint{
		Filter: notify.Filter{EventType: `compute\.instance\.`},
		Handlers: map[notify.Priority]notify.Handler{
			notify.Info: notify.Typed(func(_ context.Context, n *notify.Notification, p Payload) error {
				line := l.apply(n.EventType, p.Data)
				if report != nil {
					report(fmt.Sprintf("%s %s (%s) from %s: %s", n.EventType, p.Data.DisplayName, p.Data.UUID, n.PublisherID, line))
				}
				return nil
			}),
		},
	}
}

// apply books one event and describes the project's usage after it.
func (l *Ledger) apply(eventType string, i Instance) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case strings.HasSuffix(eventType, ".create.end"), strings.HasSuffix(eventType, ".power_on.end"):
		l.running[i.UUID] = i
	case strings.HasSuffix(eventType, ".power_off.end"), strings.HasSuffix(eventType, ".delete.end"):
		delete(l.running, i.UUID)
	}
	u := l.usageLocked()[i.TenantID]
	return fmt.Sprintf("project %s runs %d instances, %d vCPUs, %d MB", i.TenantID, u.Instances, u.VCPUs, u.MemoryMB)
}

// Usage returns each project's usage now.
func (l *Ledger) Usage() map[string]Usage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.usageLocked()
}

func (l *Ledger) usageLocked() map[string]Usage {
	out := map[string]Usage{}
	for _, i := range l.running {
		u := out[i.TenantID]
		u.Instances++
		u.VCPUs += i.Flavor.Data.VCPUs
		u.MemoryMB += i.Flavor.Data.MemoryMB
		out[i.TenantID] = u
	}
	return out
}

// Projects returns the projects of u in order.
func Projects(u map[string]Usage) []string { return slices.Sorted(maps.Keys(u)) }
