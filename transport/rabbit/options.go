package rabbit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/warrenrpc/warren/transport"
)

// Defaults of the settings Dial accepts.
const (
	// DefaultPrefetch is how many requests the broker may push to each of
	// a listener's consumers before Next takes them.
	DefaultPrefetch = 64
	// DefaultMaxMessageSize is the largest message body, in bytes, a
	// transport sends or accepts.
	DefaultMaxMessageSize = 16 << 20
	// DefaultHeartbeat is the AMQP heartbeat interval proposed to the
	// broker, as oslo.messaging's heartbeat_timeout_threshold.
	DefaultHeartbeat = 60 * time.Second
)

// Option configures a Transport at Dial.
type Option func(*settings)

type settings struct {
	controlExchange string
	logger          *slog.Logger
	prefetch        int
	maxMessageSize  int
	heartbeat       time.Duration
	connectionName  string
	// dialContext opens the TCP connections; tests replace it.
	dialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// closeTimeout bounds Close (see the constant); tests shorten it.
	closeTimeout time.Duration
}

func defaultSettings() settings {
	return settings{
		controlExchange: transport.DefaultControlExchange,
		logger:          slog.New(slog.DiscardHandler),
		prefetch:        DefaultPrefetch,
		maxMessageSize:  DefaultMaxMessageSize,
		heartbeat:       DefaultHeartbeat,
		dialContext:     (&net.Dialer{}).DialContext,
		closeTimeout:    closeTimeout,
	}
}

// ControlExchange sets the topic exchange used by targets that name none.
// The default, also for an empty name, is "openstack", as in oslo.messaging.
func ControlExchange(name string) Option {
	return func(s *settings) {
		if name != "" {
			s.controlExchange = name
		}
	}
}

// Logger sets where the transport logs what it cannot return as an error:
// rejected malformed messages, replies whose caller is gone, a lost
// connection. The default discards everything.
func Logger(l *slog.Logger) Option {
	return func(s *settings) {
		if l != nil {
			s.logger = l
		}
	}
}

// Prefetch sets how many requests the broker may push to each of a
// listener's three consumers ahead of Next (basic.qos per consumer, as
// oslo.messaging's rabbit_qos_prefetch_count). Zero means no limit. The
// default is DefaultPrefetch. The URL query key prefetch overrides it.
func Prefetch(n int) Option {
	return func(s *settings) { s.prefetch = n }
}

// MaxMessageSize sets the largest message body, in bytes, the transport
// sends or accepts: larger requests and replies are refused with
// transport.ErrMessageTooLarge, and larger received messages are rejected and
// logged. The default, also for zero, is DefaultMaxMessageSize; a negative
// size is an error from Dial.
func MaxMessageSize(n int) Option {
	return func(s *settings) {
		if n != 0 {
			s.maxMessageSize = n
		}
	}
}

// Heartbeat sets the AMQP heartbeat interval proposed to the broker, in
// whole seconds. Zero takes the broker's. The default is DefaultHeartbeat.
// The URL query key heartbeat (seconds) overrides it.
func Heartbeat(d time.Duration) Option {
	return func(s *settings) { s.heartbeat = d }
}

// ConnectionName sets the connection_name client property the broker
// shows for both connections. The default is "<program>:<pid>:<uuid>",
// with one uuid per connection, as oslo.messaging names its connections.
// The URL query key connection_name overrides it.
func ConnectionName(name string) Option {
	return func(s *settings) { s.connectionName = name }
}

// urlKeys are the transport URL query keys Dial accepts.
var urlKeys = []string{"connection_name", "heartbeat", "prefetch", "ssl"}

// applyURL applies the query options of u over s. Unknown keys are an
// error, as in oslo.messaging.
func (s *settings) applyURL(u *transport.URL) error {
	for k, v := range u.Options {
		switch k {
		case "prefetch":
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("rabbit: %w: prefetch %q is not an integer", transport.ErrInvalidURL, v)
			}
			s.prefetch = n
		case "heartbeat":
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("rabbit: %w: heartbeat %q is not a whole number of seconds", transport.ErrInvalidURL, v)
			}
			s.heartbeat = time.Duration(n) * time.Second
		case "connection_name":
			s.connectionName = v
		case "ssl":
			if _, err := strconv.ParseBool(v); err != nil {
				return fmt.Errorf("rabbit: %w: ssl %q is not a boolean", transport.ErrInvalidURL, v)
			}
		default:
			return fmt.Errorf("rabbit: %w: unknown query option %q (known: %v)", transport.ErrInvalidURL, k, urlKeys)
		}
	}
	return nil
}

func (s *settings) validate() error {
	switch {
	case s.prefetch < 0 || s.prefetch > 65535:
		return fmt.Errorf("rabbit: prefetch %d is outside 0..65535", s.prefetch)
	case s.maxMessageSize < 0:
		return fmt.Errorf("rabbit: max message size %d is negative", s.maxMessageSize)
	case s.heartbeat < 0 || s.heartbeat > 65535*time.Second:
		return fmt.Errorf("rabbit: heartbeat %v is outside 0..65535s", s.heartbeat)
	}
	return nil
}
