package rabbit

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// connRecorder records the TCP connections a transport opens, in order:
// the publishing one, then the consuming one.
type connRecorder struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (r *connRecorder) option() Option {
	return func(s *settings) {
		s.dialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				r.mu.Lock()
				r.conns = append(r.conns, c)
				r.mu.Unlock()
			}
			return c, err
		}
	}
}

func (r *connRecorder) conn(i int) net.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[i]
}

// TestConnectionLost cuts one TCP connection of a transport, as a network
// failure would: a pending call and a blocked Next fail promptly with
// ErrConnectionLost, later operations fail the same way, Close succeeds.
func TestConnectionLost(t *testing.T) {
	cases := []struct {
		name string
		conn int
	}{
		{"publishing", 0},
		{"consuming", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tgt := serverTarget(t, "lost")
			server := dial(t)
			lis := listen(t, server, tgt)
			got := make(chan transport.Incoming, 1)
			serve(t, lis, func(in transport.Incoming) *message.Reply {
				got <- in
				return nil
			})

			rec := &connRecorder{}
			client := dial(t, rec.option())
			own := serverTarget(t, "lostown")
			ownLis, err := client.Listen(within(t, 10*time.Second), own)
			if err != nil {
				t.Fatalf("Listen = %v", err)
			}
			// Lost with its connection, the transport cannot delete its
			// fanout and reply queues.
			t.Cleanup(func() {
				deleteQueue(t, ownLis.(*rpcListener).expiring)
				deleteQueue(t, client.replyQ)
			})
			calls := make(chan error, 1)
			go func() {
				_, err := client.Call(within(t, 30*time.Second), tgt, &message.Request{Method: "hang"})
				calls <- err
			}()
			nexts := make(chan error, 1)
			go func() {
				_, err := ownLis.Next(within(t, 30*time.Second))
				nexts <- err
			}()
			await(t, got, 10*time.Second, "request on the server")

			rec.conn(c.conn).Close()

			if err := await(t, calls, 10*time.Second, "pending Call return"); !errors.Is(err, transport.ErrConnectionLost) {
				t.Errorf("pending Call = %v, want ErrConnectionLost", err)
			}
			if err := await(t, nexts, 10*time.Second, "blocked Next return"); !errors.Is(err, transport.ErrConnectionLost) {
				t.Errorf("blocked Next = %v, want ErrConnectionLost", err)
			}
			ctx := within(t, 5*time.Second)
			if _, err := client.Call(ctx, tgt, &message.Request{Method: "m"}); !errors.Is(err, transport.ErrConnectionLost) {
				t.Errorf("Call after the loss = %v, want ErrConnectionLost", err)
			}
			if err := client.Cast(ctx, tgt, &message.Request{Method: "m"}); !errors.Is(err, transport.ErrConnectionLost) {
				t.Errorf("Cast after the loss = %v, want ErrConnectionLost", err)
			}
			if _, err := client.Listen(ctx, target.Target{Topic: tgt.Topic, Server: "s2"}); !errors.Is(err, transport.ErrConnectionLost) {
				t.Errorf("Listen after the loss = %v, want ErrConnectionLost", err)
			}
			if err := ownLis.Close(); err != nil {
				t.Errorf("listener Close after the loss = %v, want nil", err)
			}
		})
	}
}
