package rabbit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/warrenrpc/warren/transport"
)

// brokerURLWith returns the test broker's URL with hosts before its own
// and query appended.
func brokerURLWith(tb testing.TB, before []string, query string) string {
	tb.Helper()
	u, err := transport.ParseURL(brokerURL())
	if err != nil {
		tb.Fatalf("ParseURL(%s) = %v", brokerURL(), err)
	}
	h := u.Hosts[0]
	auth := url.UserPassword(h.Username, h.Password).String() + "@"
	hosts := make([]string, 0, len(before)+1)
	for _, b := range before {
		hosts = append(hosts, auth+b)
	}
	hosts = append(hosts, auth+h.Addr())
	path := "/"
	if u.VirtualHost != "/" {
		path += url.PathEscape(u.VirtualHost)
	}
	s := u.Scheme + "://" + strings.Join(hosts, ",") + path
	if query != "" {
		s += "?" + query
	}
	return s
}

func TestDialErrors(t *testing.T) {
	cases := []struct {
		name string
		url  string
		opts []Option
		want error // nil: any error
	}{
		{"unknown-query-key", brokerURLWith(t, nil, "bogus=1"), nil, transport.ErrInvalidURL},
		{"oslo-query-key", brokerURLWith(t, nil, "rabbit_qos_prefetch_count=1"), nil, transport.ErrInvalidURL},
		{"prefetch-not-a-number", brokerURLWith(t, nil, "prefetch=many"), nil, transport.ErrInvalidURL},
		{"heartbeat-not-whole-seconds", brokerURLWith(t, nil, "heartbeat=1.5"), nil, transport.ErrInvalidURL},
		{"ssl-not-a-boolean", brokerURLWith(t, nil, "ssl=maybe"), nil, transport.ErrInvalidURL},
		{"memory-scheme", "memory://", nil, transport.ErrInvalidURL},
		{"unknown-scheme", "http://localhost/", nil, transport.ErrInvalidURL},
		{"prefetch-too-large", brokerURLWith(t, nil, "prefetch=70000"), nil, nil},
		{"negative-prefetch", brokerURL(), []Option{Prefetch(-1)}, nil},
		{"negative-max-message-size", brokerURL(), []Option{MaxMessageSize(-1)}, nil},
		{"negative-heartbeat", brokerURL(), []Option{Heartbeat(-time.Second)}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := Dial(within(t, 10*time.Second), c.url, c.opts...)
			if err == nil {
				tr.Close()
				t.Fatalf("Dial(%s) = nil error, want one", c.url)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("Dial(%s) = %v, want %v", c.url, err, c.want)
			}
			if strings.Contains(err.Error(), "guest:guest") {
				t.Errorf("Dial error %q shows the password", err)
			}
		})
	}
}

func TestDialQueryOptions(t *testing.T) {
	tr := dial(t, Prefetch(5), ConnectionName("from-option"))
	if tr.s.prefetch != 5 || tr.s.connectionName != "from-option" || tr.s.heartbeat != DefaultHeartbeat {
		t.Errorf("options gave prefetch %d, name %q, heartbeat %v", tr.s.prefetch, tr.s.connectionName, tr.s.heartbeat)
	}
	raw := brokerURLWith(t, nil, "prefetch=2&heartbeat=30&connection_name=svc-a&ssl=false")
	tr, err := Dial(within(t, 10*time.Second), raw, Prefetch(5), ConnectionName("from-option"))
	if err != nil {
		t.Fatalf("Dial(%s) = %v", raw, err)
	}
	defer tr.Close()
	if tr.s.prefetch != 2 || tr.s.connectionName != "svc-a" {
		t.Errorf("query gave prefetch %d, name %q; want 2, svc-a (the URL wins over options)", tr.s.prefetch, tr.s.connectionName)
	}
	if got := tr.sess.Load().pub.Config.Heartbeat; got != 30*time.Second {
		t.Errorf("negotiated heartbeat = %v, want 30s", got)
	}
	if got := tr.sess.Load().con.Config.Properties["connection_name"]; got != "svc-a" {
		t.Errorf("connection_name = %v, want svc-a", got)
	}
}

func TestDefaultConnectionName(t *testing.T) {
	tr := dial(t)
	pub, _ := tr.sess.Load().pub.Config.Properties["connection_name"].(string)
	con, _ := tr.sess.Load().con.Config.Properties["connection_name"].(string)
	parts := strings.Split(pub, ":")
	if len(parts) != 3 || parts[1] == "" || len(parts[2]) != 32 {
		t.Errorf("connection_name = %q, want <program>:<pid>:<32 hex>", pub)
	}
	if pub == con {
		t.Errorf("both connections are named %q, want one uuid each", pub)
	}
}

// refusingAddr returns a local address where nothing listens.
func refusingAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen = %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestDialTriesHostsInOrder(t *testing.T) {
	dead := refusingAddr(t)
	raw := brokerURLWith(t, []string{dead}, "")
	tr, err := Dial(within(t, 10*time.Second), raw)
	if err != nil {
		t.Fatalf("Dial(%s) = %v, want the second host", raw, err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}

	dead2 := refusingAddr(t)
	raw = fmt.Sprintf("amqp://%s,%s/", dead, dead2)
	_, err = Dial(within(t, 10*time.Second), raw, Reconnect(Backoff{Attempts: 2}))
	if err == nil || !strings.Contains(err.Error(), dead) || !strings.Contains(err.Error(), dead2) {
		t.Errorf("Dial(%s) = %v, want an error naming both hosts", raw, err)
	}
}

// TestDialHonoursContext dials a server that accepts TCP connections but
// never speaks AMQP: Dial ends with ctx.
func TestDialHonoursContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen = %v", err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range accepted {
			c.Close()
		}
	})

	cases := []struct {
		name   string
		ctx    func() (context.Context, context.CancelFunc)
		wanted error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := c.ctx()
			defer cancel()
			start := time.Now()
			_, err := Dial(ctx, "amqp://"+l.Addr().String()+"/")
			if !errors.Is(err, c.wanted) {
				t.Errorf("Dial to a silent server = %v, want %v", err, c.wanted)
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("Dial returned after %v, want soon after ctx ended", elapsed)
			}
		})
	}
}

// TestDialKeepsTheTellingError dials a server that drops the first
// connection and leaves the next one silent: when ctx ends during that
// second attempt, Dial's error still tells why the first one failed.
func TestDialKeepsTheTellingError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen = %v", err)
	}
	held := make(chan net.Conn, 8)
	go func() {
		defer close(held)
		for first := true; ; first = false {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if first {
				c.Close()
				continue
			}
			held <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range held {
			c.Close()
		}
	})
	_, err = Dial(within(t, 2*time.Second), "amqp://"+l.Addr().String()+"/")
	// amqp091 reports the connection the server closed during the
	// handshake as EOF, a reset or amqp.ErrClosed, as timing has it: the
	// host's error must be that one, not the ctx's that cut the second.
	if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), l.Addr().String()+": "+context.DeadlineExceeded.Error()) {
		t.Errorf("Dial = %v, want context.DeadlineExceeded and the first attempt's error", err)
	}
}

// TestDialZeroOptionsKeepDefaults pins the option convention: a zero
// argument keeps the default instead of failing or meaning something else.
func TestDialZeroOptionsKeepDefaults(t *testing.T) {
	tr := dial(t, ControlExchange(""), MaxMessageSize(0), Logger(nil))
	if tr.s.controlExchange != transport.DefaultControlExchange || tr.s.maxMessageSize != DefaultMaxMessageSize || tr.log == nil {
		t.Errorf("zero options gave exchange %q, max size %d, logger %v; want %q, %d and a logger",
			tr.s.controlExchange, tr.s.maxMessageSize, tr.log, transport.DefaultControlExchange, DefaultMaxMessageSize)
	}
}
