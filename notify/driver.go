package notify

import (
	"context"
	"errors"
	"log/slog"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// errNoTransport is what the messagingv2 driver returns without a
// transport.
var errNoTransport = errors.New("messagingv2 driver has no transport")

// Driver delivers the notifications of a Notifier, as oslo.messaging's
// notification drivers do. Send is called once per notification and
// topic (tgt.Topic; tgt.Exchange is the Exchange option), concurrently
// from the notifier's callers; it must not keep or modify n.
type Driver interface {
	Send(ctx context.Context, tgt target.Target, n *message.Notification) error
}

// MessagingV2 returns oslo's messagingv2 driver: it publishes each
// notification over tr in the oslo.messaging 2.0 format, with routing key
// <topic>.<priority>, and declares that queue bounded by limits (zero:
// unbounded, as oslo).
func MessagingV2(tr transport.Notifications, limits transport.QueueLimits) Driver {
	return messagingV2{tr: tr, limits: limits}
}

type messagingV2 struct {
	tr     transport.Notifications
	limits transport.QueueLimits
}

func (d messagingV2) Send(ctx context.Context, tgt target.Target, n *message.Notification) error {
	if d.tr == nil {
		return errNoTransport
	}
	return d.tr.Notify(ctx, tgt, n, d.limits)
}

// Log returns oslo's log driver: each notification becomes one record of
// l, with message "oslo.messaging.notification.<event type>", at the level
// of its priority (debug: Debug; audit, info and sample: Info; warn:
// Warn; error: Error; critical: Error+4).
func Log(l *slog.Logger) Driver {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return logDriver{l}
}

type logDriver struct{ l *slog.Logger }

func (d logDriver) Send(ctx context.Context, tgt target.Target, n *message.Notification) error {
	level := slog.LevelInfo
	switch Priority(lower(n.Priority)) {
	case Debug:
		level = slog.LevelDebug
	case Warn:
		level = slog.LevelWarn
	case Error:
		level = slog.LevelError
	case Critical:
		level = slog.LevelError + 4
	}
	payload := string(n.Payload)
	if payload == "" {
		payload = "null"
	}
	d.l.LogAttrs(ctx, level, "oslo.messaging.notification."+n.EventType,
		slog.String("topic", tgt.Topic),
		slog.String("publisher_id", n.PublisherID),
		slog.String("event_type", n.EventType),
		slog.String("priority", n.Priority),
		slog.String("payload", payload),
		slog.Any("context", n.Context),
		slog.Time("timestamp", n.Timestamp))
	return nil
}

// Noop returns oslo's noop driver, which drops every notification.
func Noop() Driver { return noop{} }

type noop struct{}

func (noop) Send(context.Context, target.Target, *message.Notification) error { return nil }
