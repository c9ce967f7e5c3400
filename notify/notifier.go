package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/serializer"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// DefaultTopic is the topic notifications go to unless the Topics option
// says otherwise, as oslo.messaging's notification topics default.
const DefaultTopic = "notifications"

// DefaultTimeout bounds a notification whose ctx has no deadline, so that
// a notifier never blocks forever on a broker that stopped answering.
const DefaultTimeout = 30 * time.Second

// notifierSettings is everything an Option can change. Prepare copies it;
// options replace its slices and never append to shared ones.
type notifierSettings struct {
	publisherID string
	topics      []string
	exchange    string
	limits      transport.QueueLimits
	drivers     []Driver // nil: messagingv2 on the notifier's transport
	timeout     time.Duration
	ser         serializer.Serializer
}

// Option changes a setting of a Notifier. Options are given to
// NewNotifier and Prepare.
type Option func(*notifierSettings)

// PublisherID sets the publisher id notifications carry, such as
// "compute.host1".
func PublisherID(id string) Option { return func(s *notifierSettings) { s.publisherID = id } }

// Topics sets the topics every notification is sent to, each to its own
// <topic>.<priority> queue. None restores DefaultTopic.
func Topics(topics ...string) Option {
	topics = slices.Clone(topics)
	return func(s *notifierSettings) {
		if len(topics) == 0 {
			topics = []string{DefaultTopic}
		}
		s.topics = topics
	}
}

// Exchange sets the control exchange the messagingv2 driver publishes to;
// empty means the transport's (oslo's control_exchange).
func Exchange(name string) Option { return func(s *notifierSettings) { s.exchange = name } }

// QueueLimits bounds the <topic>.<priority> queues the default messagingv2
// driver declares: at most maxLength notifications (the oldest are
// dropped) kept at most ttl, so that a queue nobody listens to does not
// grow forever. Zero means no limit. A queue that already exists with other
// arguments makes the notify fail (see transport.QueueLimits): pool-less
// listeners and other publishers must agree, or use a broker policy.
func QueueLimits(maxLength int, ttl time.Duration) Option {
	return func(s *notifierSettings) { s.limits = transport.QueueLimits{MaxLength: maxLength, TTL: ttl} }
}

// Drivers sets where notifications go, all of them for each notification,
// as oslo.messaging's driver list: MessagingV2, Log, Noop or your own. The
// default is the messagingv2 driver on the notifier's transport. None
// disables notifications, as oslo does with an empty list.
func Drivers(ds ...Driver) Option {
	ds = slices.Clone(ds)
	return func(s *notifierSettings) {
		if ds == nil {
			ds = []Driver{}
		}
		s.drivers = ds
	}
}

// Serializer sets how payloads and the request context are encoded, as
// oslo's Notifier serializer: payloads through SerializeEntity, and the
// request context ctx carries through SerializeContext, with the reqCtx
// given to Notify laid over it key by key. Nil, the default, is
// serializer.JSON.
func Serializer(s serializer.Serializer) Option {
	return func(o *notifierSettings) {
		if s == nil {
			s = serializer.JSON{}
		}
		o.ser = s
	}
}

// Timeout bounds a notification whose ctx has no deadline; zero or less
// restores DefaultTimeout. A ctx deadline always wins.
func Timeout(d time.Duration) Option {
	return func(s *notifierSettings) {
		if d <= 0 {
			d = DefaultTimeout
		}
		s.timeout = d
	}
}

// Notifier sends notifications, as oslo.messaging's Notifier: one method
// per priority, each to every topic through every driver. It is safe for
// concurrent use by multiple goroutines; its settings never change after
// NewNotifier or Prepare.
type Notifier struct {
	tr      transport.Notifications
	s       notifierSettings
	drivers []Driver
}

// NewNotifier returns a notifier that publishes over tr as publisherID,
// to topic DefaultTopic with the messagingv2 driver unless opts say
// otherwise. tr may be nil when Drivers names no driver that needs it. It
// does no I/O.
func NewNotifier(tr transport.Notifications, publisherID string, opts ...Option) *Notifier {
	n := &Notifier{tr: tr, s: notifierSettings{
		publisherID: publisherID,
		topics:      []string{DefaultTopic},
		timeout:     DefaultTimeout,
		ser:         serializer.JSON{},
	}}
	return n.with(opts)
}

// Prepare returns a copy of n with opts applied, as oslo's
// Notifier.prepare; n itself is not changed.
func (n *Notifier) Prepare(opts ...Option) *Notifier {
	return (&Notifier{tr: n.tr, s: n.s}).with(opts)
}

func (n *Notifier) with(opts []Option) *Notifier {
	for _, o := range opts {
		o(&n.s)
	}
	n.drivers = n.s.drivers
	if n.drivers == nil {
		n.drivers = []Driver{MessagingV2(n.tr, n.s.limits)}
	}
	return n
}

// Audit sends an AUDIT notification; see Notify.
func (n *Notifier) Audit(ctx context.Context, reqCtx map[string]any, eventType string, payload any) error {
	return n.Notify(ctx, Audit, reqCtx, eventType, payload)
}

// Debug sends a DEBUG notification; see Notify.
func (n *Notifier) Debug(ctx context.Context, reqCtx map[string]any, eventType string, payload any) error {
	return n.Notify(ctx, Debug, reqCtx, eventType, payload)
}

// Info sends an INFO notification; see Notify.
func (n *Notifier) Info(ctx context.Context, reqCtx map[string]any, eventType string, payload any) error {
	return n.Notify(ctx, Info, reqCtx, eventType, payload)
}

// Warn sends a WARN notification; see Notify.
func (n *Notifier) Warn(ctx context.Context, reqCtx map[string]any, eventType string, payload any) error {
	return n.Notify(ctx, Warn, reqCtx, eventType, payload)
}

// Error sends an ERROR notification; see Notify.
func (n *Notifier) Error(ctx context.Context, reqCtx map[string]any, eventType string, payload any) error {
	return n.Notify(ctx, Error, reqCtx, eventType, payload)
}

// Critical sends a CRITICAL notification; see Notify.
func (n *Notifier) Critical(ctx context.Context, reqCtx map[string]any, eventType string, payload any) error {
	return n.Notify(ctx, Critical, reqCtx, eventType, payload)
}

// Sample sends a SAMPLE notification; see Notify.
func (n *Notifier) Sample(ctx context.Context, reqCtx map[string]any, eventType string, payload any) error {
	return n.Notify(ctx, Sample, reqCtx, eventType, payload)
}

// Notify sends a notification of priority p: eventType (such as
// "compute.instance.create.end"), payload (any value that encodes to
// JSON; nil sends null) and reqCtx, the request context sent as
// _context_<key> entries, laid over the one ctx carries (see Serializer;
// nil adds none). It goes to every topic through
// every driver, and returns once each driver has taken it (the
// messagingv2 driver: once the broker confirmed it) or ctx ended; when ctx
// has no deadline, the notifier's Timeout bounds it. The error joins what
// each driver and topic returned; a failing one does not stop the others.
func (n *Notifier) Notify(ctx context.Context, p Priority, reqCtx map[string]any, eventType string, payload any) error {
	if !slices.Contains(priorities, p) {
		return fmt.Errorf("notify: unknown priority %q", p)
	}
	if eventType == "" {
		return errors.New("notify: an event type is required")
	}
	raw, reqCtx, err := n.encode(ctx, payload, reqCtx)
	if err != nil {
		return fmt.Errorf("notify: %s: %w", eventType, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.s.timeout)
		defer cancel()
	}
	// One message id for every topic and driver, as oslo sends it; the
	// transport gives each send its own _unique_id.
	msg := &message.Notification{
		MessageID:   uuid.NewString(),
		PublisherID: n.s.publisherID,
		EventType:   eventType,
		Priority:    strings.ToUpper(string(p)),
		Payload:     raw,
		Context:     reqCtx,
		Timestamp:   time.Now(),
	}
	var errs []error
	for _, t := range n.s.topics {
		tgt := target.Target{Exchange: n.s.exchange, Topic: t}
		for _, d := range n.drivers {
			m := *msg // drivers must not keep it, but get their own anyway
			if err := d.Send(ctx, tgt, &m); err != nil {
				errs = append(errs, fmt.Errorf("notify: %s to topic %s: %w", eventType, t, err))
			}
		}
	}
	return errors.Join(errs...)
}

// encode serializes the payload and the request context (the one ctx
// carries, with extra laid over it); the one place where the notifier
// encodes what the user gives it.
func (n *Notifier) encode(ctx context.Context, payload any, extra map[string]any) (json.RawMessage, map[string]any, error) {
	var raw json.RawMessage
	if payload != nil {
		var err error
		if raw, err = n.s.ser.SerializeEntity(ctx, payload); err != nil {
			return nil, nil, fmt.Errorf("encoding the payload: %w", err)
		}
		if !json.Valid(raw) {
			return nil, nil, errors.New("the payload is not valid JSON")
		}
	}
	reqCtx, err := n.s.ser.SerializeContext(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the request context: %w", err)
	}
	if len(extra) > 0 {
		if reqCtx == nil {
			reqCtx = make(map[string]any, len(extra))
		}
		maps.Copy(reqCtx, extra)
	}
	return raw, reqCtx, nil
}
