package warren_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/warrenrpc/warren"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
	"github.com/warrenrpc/warren/transport/rabbit"
)

func TestDialMemory(t *testing.T) {
	for _, url := range []string{"", "memory://"} {
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

func TestDialBadURL(t *testing.T) {
	for _, url := range []string{"http://h", "rabbit://h:notaport", "localhost"} {
		if _, err := warren.Dial(context.Background(), transport.Config{URL: url}); !errors.Is(err, transport.ErrInvalidURL) {
			t.Errorf("Dial(%q) = %v, want ErrInvalidURL", url, err)
		}
	}
}

// TestDialRabbit needs the broker of WARREN_TEST_AMQP_URL (default the
// local one); it fails when the broker does not answer.
func TestDialRabbit(t *testing.T) {
	url := os.Getenv("WARREN_TEST_AMQP_URL")
	if url == "" {
		url = "amqp://guest:guest@127.0.0.1:5672/"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr, err := warren.Dial(ctx, transport.Config{URL: url, ControlExchange: "warren-dial-test"})
	if err != nil {
		t.Fatalf("Dial(%q) = %v; is RabbitMQ running? ./scripts/test starts it", url, err)
	}
	defer tr.Close()
	if _, ok := tr.(*rabbit.Transport); !ok {
		t.Errorf("Dial(%q) = %T, want *rabbit.Transport", url, tr)
	}
}
