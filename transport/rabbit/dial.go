package rabbit

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenrpc/warren/internal/driver"
	"github.com/warrenrpc/warren/internal/replywait"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/transport"
)

// handshakeTimeout bounds the TCP, TLS and AMQP handshake of one connection
// when ctx allows longer.
const handshakeTimeout = 30 * time.Second

// Dial connects to the RabbitMQ broker of rawURL and returns a transport
// on it. The URL scheme is rabbit, amqp or amqps; see transport.ParseURL
// for its form. Query options: prefetch (see Prefetch), heartbeat
// (seconds, see Heartbeat), connection_name (see ConnectionName), and
// oslo.messaging's ssl, ssl_ca_file, ssl_cert_file, ssl_key_file,
// ssl_version, ssl_enforce_hostname_verification and ssl_enforce_fips_mode
// (see TLS in the package doc). They override the matching Options.
// Unknown query keys are an error matching transport.ErrInvalidURL; oslo
// options that mean nothing to warren are logged and ignored. Errors show
// no password.
//
// With several hosts, Dial tries them in the order given until one
// accepts both connections (oslo.messaging shuffles them first). ctx
// bounds the whole dial; it is not kept.
func Dial(ctx context.Context, rawURL string, opts ...Option) (*Transport, error) {
	u, err := transport.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("rabbit: %w", err)
	}
	if u.Scheme == "memory" {
		return nil, fmt.Errorf("rabbit: %w: scheme memory is not a RabbitMQ URL", transport.ErrInvalidURL)
	}
	s := defaultSettings()
	for _, o := range opts {
		o(&s)
	}
	if err := s.applyURL(u); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	t := &Transport{
		s:         s,
		log:       s.logger,
		waiters:   replywait.New(),
		notes:     newNotifyState(),
		listeners: make(map[*listener]struct{}),
		done:      make(chan struct{}),
		lost:      make(chan struct{}),
	}
	t.replier = &driver.Replier{Name: "rabbit", Limit: s.maxMessageSize, Log: s.logger, Publish: t.publishReply}
	// Each host's error is reported; the last one is wrapped, so that a
	// ctx that ended matches.
	var earlier strings.Builder
	var last string
	for _, h := range u.Hosts {
		if last != "" {
			fmt.Fprintf(&earlier, "%s: %v; ", last, err)
		}
		last = h.Addr()
		if err = t.connect(ctx, u, h); err == nil {
			return t, nil
		}
		if ended(ctx) != nil {
			break
		}
	}
	return nil, fmt.Errorf("rabbit: cannot connect to %s: %s%s: %w", u, earlier.String(), last, err)
}

// connect opens the publishing and the consuming connection to h and
// starts watching them.
func (t *Transport) connect(ctx context.Context, u *transport.URL, h transport.Host) error {
	pub, err := t.dialOne(ctx, u, h)
	if err != nil {
		return err
	}
	con, err := t.dialOne(ctx, u, h)
	if err != nil {
		_ = pub.Close()
		return err
	}
	t.pubConn, t.conConn = pub, con
	pubClosed := pub.NotifyClose(make(chan *amqp.Error, 1))
	conClosed := con.NotifyClose(make(chan *amqp.Error, 1))
	t.spawn(func() { t.watch("publishing", pubClosed, con) })
	t.spawn(func() { t.watch("consuming", conClosed, pub) })
	t.pubs = make([]*publisher, publishChannels)
	for i := range t.pubs {
		t.pubs[i] = &publisher{t: t}
	}
	t.log.Debug("rabbit: connected", "broker", h.Addr(), "vhost", u.VirtualHost)
	return nil
}

// dialOne opens one AMQP connection to h. Cancelling ctx aborts the
// handshake.
func (t *Transport) dialOne(ctx context.Context, u *transport.URL, h transport.Host) (*amqp.Connection, error) {
	name := t.s.connectionName
	if name == "" {
		name = fmt.Sprintf("%s:%d:%s", filepath.Base(os.Args[0]), os.Getpid(), wire.NewID())
	}
	cfg := amqp.Config{
		SASL:      []amqp.Authentication{&amqp.PlainAuth{Username: h.Username, Password: h.Password}},
		Vhost:     u.VirtualHost,
		Heartbeat: t.s.heartbeat,
		Locale:    "en_US",
		Properties: amqp.Table{
			"product":         "warren",
			"platform":        "Go",
			"connection_name": name,
		},
	}
	scheme := "amqp"
	if t.s.tlsClient != nil {
		scheme = "amqps"
		cfg.TLSClientConfig = tlsFor(t.s.tlsClient, h.Host)
	}
	var stop func() bool
	cfg.Dial = func(network, addr string) (net.Conn, error) {
		conn, err := t.s.dialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		deadline := time.Now().Add(handshakeTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		if err := conn.SetDeadline(deadline); err != nil {
			conn.Close()
			return nil, err
		}
		// amqp091 clears the deadline once the handshake is done; until
		// then a cancelled ctx cuts the handshake short.
		stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
		return conn, nil
	}
	// The credentials go in cfg.SASL, never in the URI, which amqp091
	// may quote in its errors.
	uri := amqp.URI{Scheme: scheme, Host: h.Host, Port: h.Port, Vhost: u.VirtualHost}
	conn, err := amqp.DialConfig(uri.String(), cfg)
	if stop != nil && !stop() {
		// ctx ended while dialing: the connection may carry the expired
		// deadline, so it is not usable.
		if err == nil {
			_ = conn.Close()
		}
		return nil, ctx.Err()
	}
	if err != nil {
		if cerr := ended(ctx); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	return conn, nil
}

// ended returns ctx.Err(), or context.DeadlineExceeded once ctx's deadline
// passed even if ctx has not noticed yet: the handshake deadline, which is
// the same, may fire first.
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// watch waits for conn to close. A close that Close did not ask for loses
// the transport: pending calls fail, listeners return the error, and the
// other connection is closed so the broker requeues what our listeners
// held.
func (t *Transport) watch(role string, closed <-chan *amqp.Error, other *amqp.Connection) {
	e := <-closed
	t.mu.Lock()
	if t.closed || t.lostErr != nil {
		t.mu.Unlock()
		return
	}
	reason := "closed"
	if e != nil {
		reason = e.Error()
	}
	t.lostErr = fmt.Errorf("rabbit: %s connection: %w: %s", role, transport.ErrConnectionLost, reason)
	close(t.lost)
	t.mu.Unlock()
	t.log.Error("rabbit: connection to the broker lost; the transport must be dialed again", "connection", role, "reason", reason)
	t.waiters.FailAll(t.lostErr)
	_ = other.CloseDeadline(time.Now().Add(t.s.closeTimeout))
}
