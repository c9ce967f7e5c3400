package rabbit

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// watchedConn is the TCP connection under an AMQP connection. Once armed,
// after the handshake, it fails a read after limit of silence and a write
// that blocks for limit, so that a network that stops delivering (no FIN,
// no RST) is noticed within limit, two heartbeat intervals: the broker
// sends a heartbeat every half interval, so silence that long means the
// path is dead. amqp091 alone allows three intervals of silence and no
// write deadline at all.
type watchedConn struct {
	net.Conn
	limit time.Duration // zero: heartbeats are off, nothing is watched
	armed atomic.Bool
}

// arm starts watching, once the handshake (which has deadlines of its
// own, cleared at its end) is over. amqp091 sets the next read deadline
// only when a frame arrives: arm sets the first one, so that a network
// that freezes right after the handshake is noticed too.
func (c *watchedConn) arm() {
	if c.limit <= 0 {
		return
	}
	c.armed.Store(true)
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.limit))
}

// SetReadDeadline shortens the deadline amqp091 sets after each frame
// read to limit from now.
func (c *watchedConn) SetReadDeadline(t time.Time) error {
	if c.armed.Load() && !t.IsZero() {
		if d := time.Now().Add(c.limit); d.Before(t) {
			t = d
		}
	}
	return c.Conn.SetReadDeadline(t)
}

// Write writes p, failing when the peer has not taken it within limit.
func (c *watchedConn) Write(p []byte) (int, error) {
	if c.armed.Load() {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.limit)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

// recordingConn keeps the first error a read or a write of the connection
// met. When the broker ends a handshake by closing the connection (a TLS
// alert such as "certificate required", a reset), amqp091 reports only
// that the connection is closed; the recorded error says why.
type recordingConn struct {
	net.Conn
	first atomic.Pointer[error]
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.record(err)
	return n, err
}

func (c *recordingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.record(err)
	return n, err
}

func (c *recordingConn) record(err error) {
	if err != nil {
		c.first.CompareAndSwap(nil, &err)
	}
}

// explain adds the first error the connection met to err, a failed
// handshake, unless err holds it or says it already. c may be nil: no
// connection was made.
func (c *recordingConn) explain(err error) error {
	if c == nil {
		return err
	}
	first := c.first.Load()
	if first == nil || errors.Is(err, *first) || strings.Contains(err.Error(), (*first).Error()) {
		return err
	}
	return fmt.Errorf("%w: %w", err, *first)
}
