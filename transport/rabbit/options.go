package rabbit

import (
	"context"
	"errors"
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
	// broker. A connection silent for two intervals counts as dropped, so
	// a frozen network is noticed within 20 s (oslo.messaging's 60 s
	// threshold takes a minute or more), at the cost of one 8-byte frame
	// each way every few seconds on an idle connection; it stays well
	// above GC pauses and the stalls of a loaded broker, which RabbitMQ's
	// guidance puts at 5 to 20 s for the interval.
	DefaultHeartbeat = 10 * time.Second
)

// keepAliveDialer opens TCP connections with keepalive probes every 5 s
// after 10 s of silence, so that the kernel gives up on a dead peer within
// about 25 s even when heartbeats are off.
var keepAliveDialer = &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3}}

// Option configures a Transport at Dial.
type Option func(*settings)

type settings struct {
	controlExchange string
	logger          *slog.Logger
	prefetch        int
	maxMessageSize  int
	heartbeat       time.Duration
	connectionName  string
	backoff         Backoff
	failover        FailoverStrategy
	onState         func(StateChange)
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
		dialContext:     keepAliveDialer.DialContext,
		closeTimeout:    closeTimeout,
	}
}

// ControlExchange sets the topic exchange used by targets that name none.
// The default is "openstack", as in oslo.messaging.
func ControlExchange(name string) Option {
	return func(s *settings) { s.controlExchange = name }
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
// logged. The default is DefaultMaxMessageSize.
func MaxMessageSize(n int) Option {
	return func(s *settings) { s.maxMessageSize = n }
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
var urlKeys = []string{"connection_name", "heartbeat", "kombu_failover_strategy", "prefetch", "ssl"}

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
		case "kombu_failover_strategy":
			switch v {
			case "round-robin":
				s.failover = RoundRobin
			case "shuffle":
				s.failover = Shuffle
			default:
				return fmt.Errorf("rabbit: %w: kombu_failover_strategy %q is not round-robin or shuffle", transport.ErrInvalidURL, v)
			}
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
	case s.controlExchange == "":
		return errors.New("rabbit: the control exchange name is empty")
	case s.prefetch < 0 || s.prefetch > 65535:
		return fmt.Errorf("rabbit: prefetch %d is outside 0..65535", s.prefetch)
	case s.maxMessageSize <= 0:
		return fmt.Errorf("rabbit: max message size %d is not positive", s.maxMessageSize)
	case s.heartbeat < 0 || s.heartbeat > 65535*time.Second:
		return fmt.Errorf("rabbit: heartbeat %v is outside 0..65535s", s.heartbeat)
	case s.backoff.Initial < 0 || s.backoff.Max < 0 || s.backoff.Attempts < 0:
		return fmt.Errorf("rabbit: reconnect backoff %+v has a negative field", s.backoff)
	case s.failover != RoundRobin && s.failover != Shuffle:
		return fmt.Errorf("rabbit: unknown failover strategy %d", s.failover)
	}
	return nil
}
