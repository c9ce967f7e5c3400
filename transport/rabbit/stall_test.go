package rabbit

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// stallProxy puts a relay between a transport and the broker for each
// connection the transport opens, in order: the publishing one, then the
// consuming one. stall(i) stops relaying what the broker sends on
// connection i, as a network that drops packets or a broker that stopped
// answering: requests still reach the broker, nothing comes back.
type stallProxy struct {
	mu     sync.Mutex
	relays []*relay
	wg     sync.WaitGroup
}

type relay struct {
	client, broker net.Conn
	gate           chan struct{} // receive blocks while stalled
	stallOnce      sync.Once
	stalled        chan struct{} // closed by stall
	done           chan struct{} // closed by shut
	shutOnce       sync.Once
}

// option makes a transport dial through p. The relays end when the test
// does.
func (p *stallProxy) option(tb testing.TB) Option {
	tb.Cleanup(p.shut)
	return func(s *settings) {
		s.dialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			b, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			client, inner := net.Pipe()
			r := &relay{client: inner, broker: b, stalled: make(chan struct{}), done: make(chan struct{})}
			p.mu.Lock()
			p.relays = append(p.relays, r)
			p.mu.Unlock()
			p.wg.Go(func() {
				_, _ = io.Copy(b, inner)
				r.shut()
			})
			p.wg.Go(func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := b.Read(buf)
					if n > 0 {
						select {
						case <-r.stalled:
							<-r.done // drop everything from now on
							return
						default:
						}
						if _, werr := inner.Write(buf[:n]); werr != nil {
							r.shut()
							return
						}
					}
					if err != nil {
						r.shut()
						return
					}
				}
			})
			return client, nil
		}
	}
}

func (r *relay) shut() {
	r.shutOnce.Do(func() {
		close(r.done)
		r.client.Close()
		r.broker.Close()
	})
}

// stall stops relaying what the broker sends on connection i.
func (p *stallProxy) stall(i int) {
	p.mu.Lock()
	r := p.relays[i]
	p.mu.Unlock()
	r.stallOnce.Do(func() { close(r.stalled) })
}

// shut closes every relay and waits for them.
func (p *stallProxy) shut() {
	p.mu.Lock()
	rs := p.relays
	p.mu.Unlock()
	for _, r := range rs {
		r.shut()
	}
	p.wg.Wait()
}

// closeWithin closes tr, failing the test unless Close returns within d.
// Its error is not checked: the broker did not answer.
func closeWithin(t *testing.T, tr *Transport, d time.Duration) {
	t.Helper()
	closed := make(chan error, 1)
	go func() { closed <- tr.Close() }()
	select {
	case <-closed:
	case <-time.After(d):
		t.Fatalf("Close of a transport on a stalled connection still blocked after %v", d)
	}
}

// TestStalledBrokerDeadlines stalls a connection of a transport, as a
// network partition that the AMQP heartbeat has not detected yet: every
// operation with a ctx must still end by its ctx, and Close must end
// within its own bound.
func TestStalledBrokerDeadlines(t *testing.T) {
	const limit = 1 * time.Second
	call := func(ctx context.Context, tr *Transport, tgt target.Target) error {
		_, err := tr.Call(ctx, tgt, &message.Request{Method: "m"})
		return err
	}
	cases := []struct {
		name string
		conn int // 0: publishing, 1: consuming
		// warm runs before the stall, op after it.
		warm func(t *testing.T, tr *Transport, tgt target.Target)
		op   func(ctx context.Context, tr *Transport, tgt target.Target) error
	}{
		{"call-first", 0, nil, call},
		{"call-reply-queue", 1, nil, call},
		{"cast-fanout", 0, func(t *testing.T, tr *Transport, tgt target.Target) {
			if err := tr.Cast(within(t, 10*time.Second), tgt, &message.Request{Method: "m"}); err != nil {
				t.Fatalf("Cast before the stall = %v", err)
			}
		}, func(ctx context.Context, tr *Transport, tgt target.Target) error {
			return tr.Cast(ctx, target.Target{Topic: tgt.Topic, Fanout: true}, &message.Request{Method: "m"})
		}},
		// Every publishing channel open and the exchange declared: the
		// cast is written, and only its confirm never comes back.
		{"cast-confirm", 0, func(t *testing.T, tr *Transport, tgt target.Target) {
			for range publishChannels {
				if err := tr.Cast(within(t, 10*time.Second), tgt, &message.Request{Method: "m"}); err != nil {
					t.Fatalf("Cast before the stall = %v", err)
				}
			}
		}, func(ctx context.Context, tr *Transport, tgt target.Target) error {
			return tr.Cast(ctx, tgt, &message.Request{Method: "m"})
		}},
		{"listen", 1, nil, func(ctx context.Context, tr *Transport, tgt target.Target) error {
			_, err := tr.Listen(ctx, target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic, Server: "s2"})
			return err
		}},
		// The first notify of a priority declares its queue: that round
		// trip never ends.
		{"notify-declare", 0, nil, notifyOp},
		// The queue is declared: only the confirm never comes back.
		{"notify-confirm", 0, func(t *testing.T, tr *Transport, tgt target.Target) {
			for range publishChannels {
				if err := notifyOp(within(t, 10*time.Second), tr, tgt); err != nil {
					t.Fatalf("Notify before the stall = %v", err)
				}
			}
		}, notifyOp},
		{"listen-notifications", 1, nil, func(ctx context.Context, tr *Transport, tgt target.Target) error {
			subs := []transport.Subscription{{Target: target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic}, Priority: "info"}}
			_, err := tr.ListenNotifications(ctx, subs, "")
			return err
		}},
		{"reply", 0, nil, func(ctx context.Context, tr *Transport, tgt target.Target) error {
			in := tr.replier.Incoming(&message.Request{MsgID: "m-1", ReplyTo: "reply_nowhere"}, time.Time{})
			return in.Reply(ctx, &message.Reply{})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tgt := serverTarget(t, "stall")
			// A server elsewhere, so that what the op publishes has a
			// route, and a listener on the stalled transport, which Close
			// must close.
			listen(t, dial(t), tgt)
			p := &stallProxy{}
			const closeLimit = time.Second
			shortClose := func(s *settings) { s.closeTimeout = closeLimit }
			tr, err := Dial(within(t, 10*time.Second), brokerURL(), p.option(t), shortClose)
			if err != nil {
				t.Fatalf("Dial = %v", err)
			}
			lis, err := tr.Listen(within(t, 10*time.Second), target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic, Server: "own"})
			if err != nil {
				t.Fatalf("Listen = %v", err)
			}
			t.Cleanup(func() {
				deleteQueue(t, lis.(*rpcListener).expiring)
				deleteQueue(t, tgt.Topic+".info")
				forget(t, target.Target{Topic: tgt.Topic, Server: "own"})
			})
			if c.warm != nil {
				c.warm(t, tr, tgt)
			}
			p.stall(c.conn)
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- c.op(ctx, tr, tgt) }()
			select {
			case err := <-errc:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s on a stalled connection = %v, want its ctx's end", c.name, err)
				}
			case <-time.After(limit + 10*time.Second):
				t.Errorf("%s on a stalled connection still blocked 10s after its ctx ended", c.name)
				p.shut() // let it end
				<-errc
			}
			closeWithin(t, tr, closeLimit+5*time.Second)
		})
	}
}

// notifyOp sends an INFO notification to the topic of tgt.
func notifyOp(ctx context.Context, tr *Transport, tgt target.Target) error {
	n := &message.Notification{PublisherID: "p", EventType: "e", Priority: "INFO"}
	return tr.Notify(ctx, target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic}, n, transport.QueueLimits{})
}

// TestStalledBrokerClose closes a transport whose consuming connection
// stalled while it had a listener and a reply queue: closing them cannot
// get an answer, and Close must still return within its bound.
func TestStalledBrokerClose(t *testing.T) {
	for _, conn := range []int{0, 1} {
		t.Run([]string{"publishing", "consuming"}[conn], func(t *testing.T) {
			t.Parallel()
			tgt := serverTarget(t, "stallclose")
			p := &stallProxy{}
			const closeLimit = time.Second
			tr, err := Dial(within(t, 10*time.Second), brokerURL(), p.option(t), func(s *settings) { s.closeTimeout = closeLimit })
			if err != nil {
				t.Fatalf("Dial = %v", err)
			}
			own := target.Target{Exchange: tgt.Exchange, Topic: tgt.Topic, Server: "own"}
			lis, err := tr.Listen(within(t, 10*time.Second), own)
			if err != nil {
				t.Fatalf("Listen = %v", err)
			}
			t.Cleanup(func() {
				deleteQueue(t, lis.(*rpcListener).expiring)
				forget(t, own)
			})
			// A call declares the reply queue.
			serve(t, listen(t, dial(t), tgt), func(in transport.Incoming) *message.Reply { return &message.Reply{} })
			if _, err := tr.Call(within(t, 10*time.Second), tgt, &message.Request{Method: "m"}); err != nil {
				t.Fatalf("Call = %v", err)
			}
			t.Cleanup(func() { deleteQueue(t, tr.replyQ) })
			p.stall(conn)
			closeWithin(t, tr, closeLimit+5*time.Second)
		})
	}
}

// TestStalledBrokerStop stops and closes a listener whose connection
// stalled: a server's Shutdown stops its listener first, and must not
// wait for the AMQP heartbeat to give up on the connection.
func TestStalledBrokerStop(t *testing.T) {
	tgt := serverTarget(t, "stallstop")
	p := &stallProxy{}
	const closeLimit = time.Second
	tr, err := Dial(within(t, 10*time.Second), brokerURL(), p.option(t), func(s *settings) { s.closeTimeout = closeLimit })
	if err != nil {
		t.Fatalf("Dial = %v", err)
	}
	lis, err := tr.Listen(within(t, 10*time.Second), tgt)
	if err != nil {
		t.Fatalf("Listen = %v", err)
	}
	t.Cleanup(func() { deleteQueue(t, lis.(*rpcListener).expiring) })
	p.stall(1)
	for _, op := range []struct {
		name string
		do   func() error
	}{{"Stop", lis.Stop}, {"Close", lis.Close}} {
		done := make(chan error, 1)
		go func() { done <- op.do() }()
		if err := await(t, done, closeLimit+5*time.Second, "listener "+op.name+" on a stalled connection"); err == nil {
			t.Errorf("listener %s on a stalled connection = nil, want an error saying the broker did not answer", op.name)
		}
	}
	closeWithin(t, tr, closeLimit+5*time.Second)
}
