package rabbit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// brokerURL is the broker every test uses. It must be reachable: tests
// fail, never skip, without it.
func brokerURL() string {
	if u := os.Getenv("WARREN_TEST_AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// unique returns prefix-<8 hex>.
func unique(prefix string) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}

// dial opens a transport on the test broker, closed when the test ends.
func dial(tb testing.TB, opts ...Option) *Transport {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := Dial(ctx, brokerURL(), opts...)
	if err != nil {
		tb.Fatalf("Dial(%s) = %v (a broker is required: set WARREN_TEST_AMQP_URL)", brokerURL(), err)
	}
	tb.Cleanup(func() {
		if err := tr.Close(); err != nil {
			tb.Errorf("Close = %v", err)
		}
	})
	return tr
}

// rawConn opens a plain amqp091 connection to the test broker, closed
// when the test ends.
func rawConn(tb testing.TB) *amqp.Connection {
	tb.Helper()
	u, err := transport.ParseURL(brokerURL())
	if err != nil {
		tb.Fatalf("ParseURL(%s) = %v", brokerURL(), err)
	}
	h := u.Hosts[0]
	scheme := "amqp"
	if u.TLS() {
		scheme = "amqps"
	}
	uri := amqp.URI{Scheme: scheme, Host: h.Host, Port: h.Port, Username: h.Username, Password: h.Password, Vhost: u.VirtualHost}
	conn, err := amqp.Dial(uri.String())
	if err != nil {
		tb.Fatalf("amqp.Dial = %v (a broker is required: set WARREN_TEST_AMQP_URL)", err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// rawChannel opens a channel on conn, closed when the test ends.
func rawChannel(tb testing.TB, conn *amqp.Connection) *amqp.Channel {
	tb.Helper()
	ch, err := conn.Channel()
	if err != nil {
		tb.Fatalf("Channel = %v", err)
	}
	tb.Cleanup(func() { ch.Close() })
	return ch
}

// forget deletes what a server of tgt leaves on the broker: queues <topic>
// and <topic>.<server>, exchange <topic>_fanout and tgt.Exchange, and the
// dead-letter exchange and queue of tgt.Exchange. Missing
// objects are fine.
func forget(tb testing.TB, tgt target.Target) {
	tb.Helper()
	conn := rawConn(tb)
	do := func(what string, f func(ch *amqp.Channel) error) {
		ch, err := conn.Channel()
		if err != nil {
			tb.Errorf("forget: Channel = %v", err)
			return
		}
		defer ch.Close()
		var ae *amqp.Error
		if err := f(ch); err != nil && !(errors.As(err, &ae) && ae.Code == amqp.NotFound) {
			tb.Errorf("forget: %s: %v", what, err)
		}
	}
	queues := []string{tgt.Topic}
	if tgt.Server != "" {
		queues = append(queues, tgt.Topic+"."+tgt.Server)
	}
	if tgt.Exchange != "" {
		queues = append(queues, tgt.Exchange+".dlq") // AtLeastOnce's
	}
	for _, q := range queues {
		do("deleting queue "+q, func(ch *amqp.Channel) error {
			_, err := ch.QueueDelete(q, false, false, false)
			return err
		})
	}
	exchanges := []string{tgt.Topic + "_fanout"}
	if tgt.Exchange != "" {
		exchanges = append(exchanges, tgt.Exchange, tgt.Exchange+".dlx")
	}
	for _, x := range exchanges {
		do("deleting exchange "+x, func(ch *amqp.Channel) error { return ch.ExchangeDelete(x, false, false) })
	}
}

// serverTarget returns a unique server target, forgotten when the test
// ends.
func serverTarget(tb testing.TB, name string) target.Target {
	tgt := target.Target{Exchange: unique("rx-" + name), Topic: unique("rt-" + name), Server: "s1"}
	tb.Cleanup(func() { forget(tb, tgt) })
	return tgt
}

// within returns a context that ends after d or with the test.
func within(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// listen listens on tgt through tr, failing the test on an error. The
// listener closes when the test ends.
func listen(tb testing.TB, tr *Transport, tgt target.Target) transport.Listener {
	tb.Helper()
	lis, err := tr.Listen(within(tb, 10*time.Second), tgt)
	if err != nil {
		tb.Fatalf("Listen(%v) = %v", tgt, err)
	}
	tb.Cleanup(func() { lis.Close() })
	return lis
}

// await returns the next value of ch, failing the test after d.
func await[T any](tb testing.TB, ch <-chan T, d time.Duration, what string) (v T) {
	tb.Helper()
	select {
	case v = <-ch:
	case <-time.After(d):
		tb.Fatalf("no %s within %v", what, d)
	}
	return v
}

// serve answers every request lis receives with handle's reply (nil: no
// reply) until the test ends.
func serve(tb testing.TB, lis transport.Listener, handle func(in transport.Incoming) *message.Reply) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			in, err := lis.Next(ctx)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, transport.ErrClosed) {
					tb.Errorf("Next = %v", err)
				}
				return
			}
			if r := handle(in); r != nil {
				// The caller may have its reply, and the test end, before
				// Reply returns.
				if err := in.Reply(ctx, r); err != nil && ctx.Err() == nil {
					tb.Errorf("Reply = %v", err)
				}
			}
			if st, ok := in.(transport.Settler); ok {
				st.Settle(nil)
			}
		}
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
}

// logRecorder is a slog.Handler that keeps the messages logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
	news chan struct{} // capacity 1: a message was logged; made on first use
}

// newsLocked returns r.news, making it; r.mu must be held.
func (r *logRecorder) newsLocked() chan struct{} {
	if r.news == nil {
		r.news = make(chan struct{}, 1)
	}
	return r.news
}

// await waits up to d for n messages containing substr and returns how
// many there are then.
func (r *logRecorder) await(substr string, n int, d time.Duration) int {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		got := r.count(substr)
		r.mu.Lock()
		news := r.newsLocked()
		r.mu.Unlock()
		if got >= n {
			return got
		}
		select {
		case <-news:
		case <-timer.C:
			return r.count(substr)
		}
	}
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	select {
	case r.newsLocked() <- struct{}{}:
	default:
	}
	return nil
}

func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// count returns how many messages contain substr.
func (r *logRecorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

// fixture is one oslo.messaging capture of internal/wire/testdata.
type fixture struct {
	Exchange   string `json:"exchange"`
	RoutingKey string `json:"routing_key"`
	Body       string `json:"body"`
}

func loadFixture(tb testing.TB, name string) fixture {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "wire", "testdata", "oslo-wire", name))
	if err != nil {
		tb.Fatalf("reading fixture: %v", err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatalf("decoding fixture %s: %v", name, err)
	}
	return f
}

// deleteQueue deletes queue from a raw connection.
func deleteQueue(tb testing.TB, queue string) {
	tb.Helper()
	if _, err := rawChannel(tb, rawConn(tb)).QueueDelete(queue, false, false, false); err != nil {
		tb.Errorf("QueueDelete(%s) = %v", queue, err)
	}
}

// uniqueIDPattern finds the _unique_id of an oslo capture's body, escaped
// inside its envelope.
var uniqueIDPattern = regexp.MustCompile(`_unique_id\\": \\"([0-9a-f]+)\\"`)

// freshUniqueID returns body, an oslo capture, with a new _unique_id, so
// that a listener does not drop it as a duplicate of another publish of
// the same capture.
func freshUniqueID(tb testing.TB, body string) string {
	tb.Helper()
	m := uniqueIDPattern.FindStringSubmatch(body)
	if m == nil {
		tb.Fatalf("no _unique_id in %s", body)
	}
	return strings.Replace(body, m[1], wire.NewID(), 1)
}
