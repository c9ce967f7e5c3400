package nova_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/warrenrpc/warren/examples/notifications/nova"
	"github.com/warrenrpc/warren/notify"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLedger(t *testing.T) {
	tr := memory.New()
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ledger := nova.NewLedger()
	lines := make(chan string, 100)
	l, err := notify.NewListener(tr, []target.Target{{Topic: nova.Topic}},
		[]notify.Endpoint{ledger.Endpoint(func(s string) { lines <- s })}, notify.Ordered())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(ctx) }()
	defer func() {
		l.Close()
		<-served
	}()

	small := nova.Flavor{FlavorID: "1", Name: "m1.small", MemoryMB: 2048, VCPUs: 1, RootGB: 20}
	large := nova.Flavor{FlavorID: "3", Name: "m1.large", MemoryMB: 8192, VCPUs: 4, RootGB: 80}
	n := notify.NewNotifier(tr, "nova-compute:host1")
	now := time.Now()
	a := nova.Lifecycle("u1", "web1", "p1", "host1", small, now)
	b := nova.Lifecycle("u2", "db1", "p1", "host1", large, now)
	// Both created, then web1 stops; db1 stays.
	events := append(append(a[:3:3], b[:2]...), a[3:]...)
	if err := nova.Publish(ctx, n, events); err != nil {
		t.Fatal(err)
	}
	for range events {
		select {
		case <-lines:
		case <-ctx.Done():
			t.Fatal("not every event reached the ledger")
		}
	}
	got := ledger.Usage()
	want := nova.Usage{Instances: 1, VCPUs: 4, MemoryMB: 8192}
	if got["p1"] != want || len(got) != 1 {
		t.Errorf("usage = %+v, want p1: %+v", got, want)
	}
}
