package warren_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenrpc/warren"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
	"github.com/warrenrpc/warren/transport/rabbit"
)

// TestDialWithoutURL: a zero Config is refused with an error that names
// the variable to set and the memory:// choice, instead of silently
// opening the in-process driver.
func TestDialWithoutURL(t *testing.T) {
	tr, err := warren.Dial(context.Background(), transport.Config{})
	if err == nil {
		tr.Close()
		t.Fatal("Dial(zero Config) = nil error, want one")
	}
	if !errors.Is(err, transport.ErrInvalidURL) {
		t.Errorf("Dial(zero Config) = %v, want ErrInvalidURL", err)
	}
	for _, want := range []string{"WARREN_TRANSPORT_URL", "memory://"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Dial(zero Config) = %q, which does not mention %s", err, want)
		}
	}
}

func TestDialMemory(t *testing.T) {
	for _, url := range []string{"memory://", "MEMORY://"} {
		tr, err := warren.Dial(context.Background(), transport.Config{URL: url})
		if err != nil {
			t.Fatalf("Dial(%q) = %v", url, err)
		}
		if _, ok := tr.(*memory.Transport); !ok {
			t.Errorf("Dial(%q) = %T, want *memory.Transport", url, tr)
		}
		tr.Close()
	}
}

// TestDialMemoryOptions: options given with warren.Memory reach the
// driver (here OnBus: two transports dialed on one bus reach each other),
// and the Config's control exchange is used.
func TestDialMemoryOptions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bus := memory.NewBus()
	cfg := transport.Config{URL: "memory://", ControlExchange: "nova"}
	server, err := warren.Dial(ctx, cfg, warren.Memory(memory.OnBus(bus)))
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	client, err := warren.Dial(ctx, cfg, warren.Memory(memory.OnBus(bus)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	lis, err := server.Listen(ctx, target.Target{Exchange: "nova", Topic: "t", Server: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	if err := client.Cast(ctx, target.Target{Topic: "t"}, &message.Request{Method: "m"}); err != nil {
		t.Fatalf("Cast on the other transport of the bus = %v", err)
	}
	in, err := lis.Next(ctx)
	if err != nil {
		t.Fatalf("Next = %v", err)
	}
	if got := in.Request().Method; got != "m" {
		t.Errorf("received method %q, want m", got)
	}
}

func TestDialBadURL(t *testing.T) {
	for _, url := range []string{"http://h", "rabbit://h:notaport", "localhost"} {
		if _, err := warren.Dial(context.Background(), transport.Config{URL: url}); !errors.Is(err, transport.ErrInvalidURL) {
			t.Errorf("Dial(%q) = %v, want ErrInvalidURL", url, err)
		}
	}
}

func brokerURL() string {
	if url := os.Getenv("WARREN_TEST_AMQP_URL"); url != "" {
		return url
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// TestDialRabbit needs the broker of WARREN_TEST_AMQP_URL (default the
// local one); it fails when the broker does not answer.
func TestDialRabbit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr, err := warren.Dial(ctx, transport.Config{URL: brokerURL(), ControlExchange: "warren-dial-test"})
	if err != nil {
		t.Fatalf("Dial(%q) = %v; is RabbitMQ running? ./scripts/test starts it", brokerURL(), err)
	}
	defer tr.Close()
	if _, ok := tr.(*rabbit.Transport); !ok {
		t.Errorf("Dial(%q) = %T, want *rabbit.Transport", brokerURL(), tr)
	}
}

// TestDialRabbitOptions: the logger given to Dial reaches the driver (it
// logs its connection at debug level), and options given with
// warren.Rabbit reach rabbit.Dial (an out-of-range prefetch fails there).
func TestDialRabbitOptions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr, err := warren.Dial(ctx, transport.Config{URL: brokerURL()}, warren.Logger(log), warren.Rabbit(rabbit.Prefetch(10)))
	if err != nil {
		t.Fatalf("Dial(%q) = %v", brokerURL(), err)
	}
	tr.Close()
	if !strings.Contains(buf.String(), "rabbit: connected") {
		t.Errorf("the logger given to Dial got %q, want the driver's \"rabbit: connected\" line", buf.String())
	}

	_, err = warren.Dial(ctx, transport.Config{URL: brokerURL()}, warren.Rabbit(rabbit.Prefetch(70000)))
	if err == nil || !strings.Contains(err.Error(), "prefetch 70000") {
		t.Errorf("Dial with warren.Rabbit(rabbit.Prefetch(70000)) = %v, want the driver's prefetch error", err)
	}
	if err != nil && strings.Count(err.Error(), "warren:") != 1 {
		t.Errorf("Dial error %q stutters", err)
	}
}

// lockedWriter serializes writes from the driver's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
