package rabbit

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
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
	if err != nil {
		c.record(err)
	}
	return n, err
}

func (c *recordingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		c.record(err)
	}
	return n, err
}

// record keeps err unless an error is kept already. Its callers test err
// themselves: err escapes here, and a nil one need not be moved to the
// heap on every read and write.
func (c *recordingConn) record(err error) {
	c.first.CompareAndSwap(nil, &err)
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

// corkBuffer is how many bytes a corkedConn holds before it writes
// through while corked: a large message gains nothing from waiting, and
// copying it would cost.
const corkBuffer = 64 << 10

// corkedConn is the top of the publishing connection. amqp091 writes each
// published message to the socket on its own, a system call per message;
// a publishing channel's writer that has several messages to write corks
// the connection, so that they, and whatever other channels write
// meanwhile, leave in one write when it uncorks. While no writer has it
// corked it writes through. Safe for concurrent use; amqp091 serializes
// its writes already.
type corkedConn struct {
	net.Conn

	mu    sync.Mutex
	corks int    // writers that have it corked
	buf   []byte // what was written while corked
	err   error  // the first failed write: every later one fails with it
}

// Write writes p, or holds it until the next uncork while corked.
func (c *corkedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.corks > 0 && len(c.buf)+len(p) <= corkBuffer {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	c.failLocked(err)
	return n, err
}

// cork holds writes until the matching uncork. A caller holds it only
// while it writes, never while it waits for the broker.
func (c *corkedConn) cork() {
	c.mu.Lock()
	c.corks++
	c.mu.Unlock()
}

// uncork writes what the connection holds (its own writes and those of
// any other writer) and returns the error of that write.
func (c *corkedConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corks--
	return c.flushLocked()
}

func (c *corkedConn) flushLocked() error {
	if c.err != nil {
		return c.err
	}
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	c.failLocked(err)
	return err
}

// failLocked records the first failed write and closes the socket, so
// that amqp091, which believes the held writes succeeded, hears of the
// failure from its reader and shuts the connection down.
func (c *corkedConn) failLocked(err error) {
	if err == nil || c.err != nil {
		return
	}
	c.err = err
	_ = c.Conn.Close()
}
