package notify_test

import (
	"context"
	"fmt"
	"time"

	"github.com/warrenrpc/warren/notify"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/memory"
)

func Example() {
	tr := memory.New()
	defer tr.Close()
	ctx := context.Background()

	type volume struct {
		ID   string `json:"id"`
		Size int    `json:"size"`
	}
	got := make(chan string)
	l, err := notify.NewListener(tr, []target.Target{{Topic: "notifications"}}, []notify.Endpoint{{
		Filter: notify.Filter{EventType: `volume\.create\.`},
		Handlers: map[notify.Priority]notify.Handler{
			notify.Info: notify.Typed(func(ctx context.Context, n *notify.Notification, v volume) error {
				got <- fmt.Sprintf("%s from %s: volume %s, %d GB, request %v", n.EventType, n.PublisherID, v.ID, v.Size, n.Context["request_id"])
				return nil
			}),
		},
	}}, notify.Pool("billing"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := l.Listen(ctx); err != nil {
		fmt.Println(err)
		return
	}
	go l.Serve(ctx)
	defer l.Close()

	n := notify.NewNotifier(tr, "volume.host1")
	reqCtx := map[string]any{"request_id": "req-7"}
	if err := n.Info(ctx, reqCtx, "volume.attach", volume{"v1", 10}); err != nil { // filtered out
		fmt.Println(err)
	}
	if err := n.Info(ctx, reqCtx, "volume.create.end", volume{"v2", 20}); err != nil {
		fmt.Println(err)
	}
	select {
	case s := <-got:
		fmt.Println(s)
	case <-time.After(10 * time.Second):
		fmt.Println("nothing arrived")
	}
	// Output:
	// volume.create.end from volume.host1: volume v2, 20 GB, request req-7
}
