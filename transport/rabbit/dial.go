package rabbit

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
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
// (seconds, see Heartbeat), connection_name (see ConnectionName),
// kombu_failover_strategy (round-robin or shuffle, see Failover), and
// oslo.messaging's ssl, ssl_ca_file, ssl_cert_file, ssl_key_file,
// ssl_version, ssl_enforce_hostname_verification and ssl_enforce_fips_mode
// (see TLS in the package doc). They override the matching Options.
// Unknown query keys are an error matching transport.ErrInvalidURL; oslo
// options that mean nothing to warren are logged and ignored. Errors show
// no password.
//
// Dial tries the hosts in the failover order, waiting the Reconnect
// backoff between failed attempts, until one accepts both connections:
// a program started before its broker waits for it. ctx bounds the whole
// dial and is not kept; refused credentials, an unknown virtual host or a
// certificate that does not verify end it at once, and so do the
// Backoff's Attempts.
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
	closing, cancel := context.WithCancel(context.Background())
	t := &Transport{
		s:           s,
		log:         s.logger,
		url:         u,
		hosts:       newHostOrder(u.Hosts, s.failover),
		waiters:     replywait.New(),
		notes:       newNotifyState(),
		listeners:   make(map[*listener]struct{}),
		done:        make(chan struct{}),
		closing:     closing,
		cancel:      cancel,
		up:          make(chan struct{}),
		eventsReady: make(chan struct{}, 1),
	}
	t.replier = &driver.Replier{Name: "rabbit", Limit: s.maxMessageSize, Log: s.logger, Publish: t.publishReply}
	if s.onState != nil {
		t.wg.Go(t.reportStates)
	}
	sess, err := t.establish(ctx, true)
	if err != nil {
		t.abort()
		return nil, fmt.Errorf("rabbit: cannot connect to %s: %w", u, err)
	}
	t.mu.Lock()
	t.install(sess)
	t.mu.Unlock()
	t.wg.Go(func() { t.supervise(sess) })
	return t, nil
}

// abort releases a transport that Dial does not return.
func (t *Transport) abort() {
	t.mu.Lock()
	t.closed = true
	t.setUnusable()
	t.setState(StateClosed, "", nil, "")
	close(t.done)
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
}

// connect opens the publishing and the consuming connection to h.
func (t *Transport) connect(ctx context.Context, h transport.Host) (*session, error) {
	pub, cork, err := t.dialOne(ctx, h, true)
	if err != nil {
		return nil, err
	}
	con, _, err := t.dialOne(ctx, h, false)
	if err != nil {
		_ = pub.Close()
		return nil, err
	}
	s := &session{
		broker:    h.Addr(),
		pub:       pub,
		cork:      cork,
		con:       con,
		pubClosed: pub.NotifyClose(make(chan *amqp.Error, 1)),
		conClosed: con.NotifyClose(make(chan *amqp.Error, 1)),
		blocks:    pub.NotifyBlocked(make(chan amqp.Blocking, 4)),
		lost:      make(chan struct{}),
	}
	s.pubs = make([]*publisher, publishChannels)
	s.calls = make([]*publisher, publishChannels)
	for i := range s.pubs {
		s.pubs[i] = &publisher{t: t, s: s, confirm: true}
		s.calls[i] = &publisher{t: t, s: s}
	}
	return s, nil
}

// dialOne opens one AMQP connection to h. With corked, the publishing
// connection, it returns it with the top of its socket, which its
// publishing channels may cork; else the *corkedConn is nil. Cancelling
// ctx aborts the handshake.
func (t *Transport) dialOne(ctx context.Context, h transport.Host, corked bool) (*amqp.Connection, *corkedConn, error) {
	u := t.url
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
	var (
		stop    func() bool
		watched *watchedConn
		rec     *recordingConn
		cork    *corkedConn
	)
	cfg.Dial = func(network, addr string) (net.Conn, error) {
		raw, err := t.s.dialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		watched = &watchedConn{Conn: raw, limit: 2 * t.s.heartbeat}
		conn := net.Conn(watched)
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
		// TLS is set up here rather than by amqp091, so that the
		// recordingConn sits above it and sees the broker's TLS alerts.
		if t.s.tlsClient != nil {
			tc := tls.Client(conn, tlsFor(t.s.tlsClient, h.Host))
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			conn = tc
		}
		rec = &recordingConn{Conn: conn}
		if !corked {
			return rec, nil
		}
		cork = &corkedConn{Conn: rec}
		return cork, nil
	}
	// The credentials go in cfg.SASL, never in the URI, which amqp091
	// may quote in its errors. The scheme is amqp even for TLS, which
	// cfg.Dial has set up already.
	uri := amqp.URI{Scheme: "amqp", Host: h.Host, Port: h.Port, Vhost: u.VirtualHost}
	conn, err := amqp.DialConfig(uri.String(), cfg)
	if stop != nil && !stop() {
		// ctx ended while dialing: the connection may carry the expired
		// deadline, so it is not usable.
		if err == nil {
			_ = conn.Close()
		}
		return nil, nil, ctx.Err()
	}
	if err != nil {
		if cerr := ended(ctx); cerr != nil {
			return nil, nil, cerr
		}
		return nil, nil, rec.explain(err)
	}
	watched.arm()
	return conn, cork, nil
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
