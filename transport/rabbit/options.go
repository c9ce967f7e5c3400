package rabbit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
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
	DefaultMaxMessageSize = transport.DefaultMaxMessageSize
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
	onDrop          func(transport.Drop)
	tls             tlsSettings
	queues          Queues
	// atLeastOnce is set by AtLeastOnce.
	atLeastOnce bool
	// query holds URL query options given in code (QueryOptions); the
	// URL's own query wins over them.
	query map[string]string
	// compression is the kombu_compression of what the transport sends:
	// "gzip" or "".
	compression string
	// tlsClient is the TLS configuration built from tls at Dial; nil
	// means no TLS.
	tlsClient *tls.Config
	// dialContext opens the TCP connections; tests replace it.
	dialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// closeTimeout bounds Close (see the constant); tests shorten it.
	closeTimeout time.Duration
	// noConsumerGrace: see NoConsumerGrace; negative turns the check off.
	noConsumerGrace time.Duration
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
		noConsumerGrace: DefaultNoConsumerGrace,
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

// TLSConfig makes the transport use a copy of c for its TLS connections,
// in place of Go's defaults with the system's roots. The URL must still ask
// for TLS (scheme amqps or ssl=true). Unless c sets ServerName, the
// broker's certificate must name the host dialed. The URL's ssl_ca_file,
// ssl_cert_file, ssl_key_file and ssl_version override the matching fields
// of the copy. A nil c is ignored.
func TLSConfig(c *tls.Config) Option {
	return func(s *settings) {
		if c != nil {
			s.tls.config = c
		}
	}
}

// QueuePreset sets how the transport declares its exchanges and queues,
// as the oslo.messaging options the fields of q are named after. The
// default is the zero Queues, oslo.messaging's defaults. The URL query keys
// amqp_durable_queues, amqp_auto_delete, rabbit_quorum_queue,
// rabbit_transient_quorum_queue,
// rabbit_quorum_delivery_limit, rabbit_quorum_max_memory_length,
// rabbit_quorum_max_memory_bytes, rabbit_transient_queues_ttl,
// rabbit_stream_fanout, use_queue_manager, hostname and processname
// override the matching fields.
func QueuePreset(q Queues) Option {
	return func(s *settings) { s.queues = q }
}

// Compression sets how the transport compresses the bodies it sends, as
// oslo.messaging's kombu_compression: "gzip" (a zlib stream, with header
// compression: application/x-gzip) or "" for none, the default. Any other
// name is an error from Dial. Received bodies are uncompressed by their
// compression header whatever this says (gzip or bz2). The URL query key
// kombu_compression overrides it.
func Compression(name string) Option {
	return func(s *settings) { s.compression = name }
}

// QueryOptions sets options by their transport URL query names and values
// (oslo.messaging's [oslo_messaging_rabbit] names, such as
// amqp_durable_queues: "true"), as a program reads them from its
// configuration; the URL's own query wins over them. They are checked as
// the URL query is: an unknown name is an error from Dial. Repeated
// QueryOptions add to the set.
func QueryOptions(m map[string]string) Option {
	return func(s *settings) {
		if s.query == nil {
			s.query = make(map[string]string, len(m))
		}
		maps.Copy(s.query, m)
	}
}

// urlKeys are the transport URL query keys Dial accepts.
var urlKeys = append([]string{
	"amqp_auto_delete", "amqp_durable_queues", "at_least_once", "connection_name", "heartbeat",
	"heartbeat_timeout_threshold", "kombu_compression", "kombu_failover_strategy", "prefetch",
	"rabbit_qos_prefetch_count", "rabbit_quorum_delivery_limit",
	"rabbit_quorum_max_memory_bytes", "rabbit_quorum_max_memory_length",
	"rabbit_quorum_queue", "rabbit_quroum_max_memory_bytes",
	"rabbit_quroum_max_memory_length", "rabbit_transient_queues_ttl",
	"rabbit_transient_quorum_queue",
	"rabbit_stream_fanout", "use_queue_manager", "hostname", "processname",
}, tlsKeys...)

// ignoredKeys are oslo.messaging options that mean nothing to warren. Dial
// accepts them in the URL query, so that a URL from an OpenStack service's
// configuration works unchanged, and logs a warning naming them.
var ignoredKeys = []string{
	"conn_pool_min_size",   // warren keeps no pool: one publishing and one consuming connection
	"conn_pool_ttl",        // idem
	"heartbeat_in_pthread", // an eventlet threading choice
	"heartbeat_rate",       // how often kombu checks heartbeats; amqp091-go checks each interval
	"rpc_conn_pool_size",   // no pool
}

// applyURL applies the query options of u over s, after adding to u those
// of QueryOptions it does not have, and builds the TLS configuration.
// Unknown keys are an error, as in oslo.messaging.
func (s *settings) applyURL(u *transport.URL) error {
	for k, v := range s.query {
		if _, ok := u.Options[k]; !ok {
			u.Options[k] = v
		}
	}
	keys := slices.Sorted(maps.Keys(u.Options))
	var ignored []string
	for _, k := range keys {
		v := u.Options[k]
		switch k {
		case "prefetch", "rabbit_qos_prefetch_count":
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("rabbit: %w: %s %q is not an integer", transport.ErrInvalidURL, k, v)
			}
			s.prefetch = n
		case "heartbeat", "heartbeat_timeout_threshold":
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("rabbit: %w: %s %q is not a whole number of seconds", transport.ErrInvalidURL, k, v)
			}
			s.heartbeat = time.Duration(n) * time.Second
		case "amqp_durable_queues", "amqp_auto_delete", "rabbit_quorum_queue", "rabbit_transient_quorum_queue":
			b, err := transport.ParseBool(v)
			if err != nil {
				return fmt.Errorf("rabbit: %w: %s: %v", transport.ErrInvalidURL, k, err)
			}
			*map[string]*bool{
				"amqp_durable_queues":           &s.queues.Durable,
				"amqp_auto_delete":              &s.queues.AutoDelete,
				"rabbit_quorum_queue":           &s.queues.Quorum,
				"rabbit_transient_quorum_queue": &s.queues.TransientQuorum,
			}[k] = b
		case "rabbit_quorum_delivery_limit", "rabbit_quorum_max_memory_length", "rabbit_quorum_max_memory_bytes",
			// oslo.messaging up to 14 spells the memory limits so.
			"rabbit_quroum_max_memory_length", "rabbit_quroum_max_memory_bytes":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("rabbit: %w: %s %q is not a whole number", transport.ErrInvalidURL, k, v)
			}
			*map[string]*int{
				"rabbit_quorum_delivery_limit":    &s.queues.QuorumDeliveryLimit,
				"rabbit_quorum_max_memory_length": &s.queues.QuorumMaxMemoryLength,
				"rabbit_quorum_max_memory_bytes":  &s.queues.QuorumMaxMemoryBytes,
				"rabbit_quroum_max_memory_length": &s.queues.QuorumMaxMemoryLength,
				"rabbit_quroum_max_memory_bytes":  &s.queues.QuorumMaxMemoryBytes,
			}[k] = n
		case "rabbit_transient_queues_ttl":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("rabbit: %w: %s %q is not a whole number of seconds", transport.ErrInvalidURL, k, v)
			}
			s.queues.TransientQueuesTTL = time.Duration(n) * time.Second
			if n == 0 {
				s.queues.TransientQueuesTTL = -1
			}
		case "rabbit_stream_fanout", "use_queue_manager", "at_least_once":
			b, err := transport.ParseBool(v)
			if err != nil {
				return fmt.Errorf("rabbit: %w: %s: %v", transport.ErrInvalidURL, k, err)
			}
			switch k {
			case "rabbit_stream_fanout":
				s.queues.StreamFanout = b
			case "use_queue_manager":
				s.queues.QueueManager = b
			default:
				s.atLeastOnce = b
			}
		case "hostname":
			s.queues.Hostname = v
		case "processname":
			s.queues.ProcessName = v
		case "connection_name":
			s.connectionName = v
		case "kombu_compression":
			s.compression = v
		case "kombu_failover_strategy":
			switch v {
			case "round-robin":
				s.failover = RoundRobin
			case "shuffle":
				s.failover = Shuffle
			default:
				return fmt.Errorf("rabbit: %w: kombu_failover_strategy %q is not round-robin or shuffle", transport.ErrInvalidURL, v)
			}
		default:
			switch {
			case slices.Contains(tlsKeys, k):
				if err := s.tls.applyURL(k, v); err != nil {
					return err
				}
			case slices.Contains(ignoredKeys, k):
				ignored = append(ignored, k)
			default:
				return fmt.Errorf("rabbit: %w: unknown query option %q (known: %v)", transport.ErrInvalidURL, k, urlKeys)
			}
		}
	}
	if len(ignored) > 0 {
		s.logger.Warn("rabbit: ignoring oslo.messaging options that mean nothing to warren", "options", ignored)
	}
	c, err := s.tls.build(u)
	if err != nil {
		return err
	}
	if s.tls.skipHostname && c != nil {
		s.logger.Warn("rabbit: TLS does not check that the broker's certificate names its host (ssl_enforce_hostname_verification=false)")
	}
	s.tlsClient = c
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
	case s.backoff.Initial < 0 || s.backoff.Max < 0 || s.backoff.Attempts < 0:
		return fmt.Errorf("rabbit: reconnect backoff %+v has a negative field", s.backoff)
	case s.queues.QuorumDeliveryLimit < 0 || s.queues.QuorumMaxMemoryLength < 0 || s.queues.QuorumMaxMemoryBytes < 0:
		return fmt.Errorf("rabbit: queue preset %+v has a negative quorum limit", s.queues)
	case s.queues.TransientQueuesTTL > 0 && s.queues.TransientQueuesTTL < time.Second:
		return fmt.Errorf("rabbit: transient queues TTL %v is under a second", s.queues.TransientQueuesTTL)
	case s.queues.StreamFanout && !s.queues.TransientQuorum:
		return errors.New("rabbit: rabbit_stream_fanout (Queues.StreamFanout) needs rabbit_transient_quorum_queue (Queues.TransientQuorum), as in oslo.messaging: the fanout exchange is durable then")
	case s.queues.StreamFanout && s.prefetch == 0:
		return errors.New("rabbit: rabbit_stream_fanout (Queues.StreamFanout) needs a prefetch (rabbit_qos_prefetch_count) above 0, as in oslo.messaging: a stream consumer needs one")
	case s.compression != "" && s.compression != "gzip":
		return fmt.Errorf("rabbit: %w: kombu_compression %q: warren sends gzip or nothing (it reads gzip and bz2)", transport.ErrInvalidURL, s.compression)
	case s.atLeastOnce && !s.queues.durable():
		return fmt.Errorf("rabbit: at-least-once casts need durable queues: set amqp_durable_queues or rabbit_quorum_queue (queue preset %+v)", s.queues)
	case s.failover != RoundRobin && s.failover != Shuffle:
		return fmt.Errorf("rabbit: unknown failover strategy %d", s.failover)
	}
	return nil
}

// OnDrop sets a function the transport calls with every message it drops
// instead of handing it out: one it rejects (too large, or not a valid
// request, reply or notification), a duplicate request, and in
// AtLeastOnce mode a cast past its delivery limit. The transport
// also logs each one. f runs on the goroutine that consumed the message,
// before the next one is taken: it must return quickly and must not call
// the transport.
func OnDrop(f func(transport.Drop)) Option {
	return func(s *settings) { s.onDrop = f }
}

// dropped reports a dropped message to OnDrop, if set.
func (t *Transport) dropped(reason transport.DropReason, source string, err error) {
	if t.s.onDrop != nil {
		t.s.onDrop(transport.Drop{Reason: reason, Source: source, Err: err})
	}
}
