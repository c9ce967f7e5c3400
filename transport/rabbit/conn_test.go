package rabbit

import (
	"errors"
	"io"
	"net"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// failingConn is a connection whose reads and writes fail with err.
type failingConn struct {
	net.Conn
	err error
}

func (c failingConn) Read([]byte) (int, error)  { return 0, c.err }
func (c failingConn) Write([]byte) (int, error) { return 0, c.err }

// TestRecordingConnExplain checks that a handshake error gains the first
// error the connection met, once, and only when it does not say it.
func TestRecordingConnExplain(t *testing.T) {
	alert := &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}
	cases := []struct {
		name      string
		met       error // what the connection's read met; nil: nothing
		handshake error
		want      string
	}{
		{"closed after an alert", alert, amqp.ErrClosed, amqp.ErrClosed.Error() + ": remote error: tls: certificate required"},
		{"nothing met", nil, amqp.ErrClosed, amqp.ErrClosed.Error()},
		{"the same error", io.EOF, io.EOF, "EOF"},
		{"said already", alert, errors.New(`Exception (501) Reason: "remote error: tls: certificate required"`), `Exception (501) Reason: "remote error: tls: certificate required"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := &recordingConn{Conn: failingConn{err: c.met}}
			if c.met != nil {
				if _, err := rc.Read(make([]byte, 1)); err != c.met {
					t.Fatalf("Read = %v, want %v", err, c.met)
				}
			}
			got := rc.explain(c.handshake)
			if got.Error() != c.want {
				t.Errorf("explain(%q) = %q, want %q", c.handshake, got, c.want)
			}
			if !errors.Is(got, c.handshake) {
				t.Errorf("explain(%q) = %v, which does not match the handshake error", c.handshake, got)
			}
		})
	}
	var none *recordingConn
	if err := none.explain(io.EOF); err != io.EOF {
		t.Errorf("explain on no connection = %v, want the error unchanged", err)
	}
}

// TestPermanentRemoteAlert checks that a TLS alert from the broker ends a
// Dial at once while a reset connection does not.
func TestPermanentRemoteAlert(t *testing.T) {
	alert := &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}
	if !permanent(errors.Join(amqp.ErrClosed, alert)) {
		t.Errorf("permanent(TLS alert) = false, want true")
	}
	if permanent(&net.OpError{Op: "read", Err: errors.New("connection reset by peer")}) {
		t.Errorf("permanent(reset) = true, want false")
	}
}

// writesConn records each write that reaches it and fails them all with
// err once err is set.
type writesConn struct {
	net.Conn
	writes []string
	err    error
	closed bool
}

func (c *writesConn) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.writes = append(c.writes, string(p))
	return len(p), nil
}

func (c *writesConn) Close() error { c.closed = true; return nil }

func TestCorkedConn(t *testing.T) {
	big := string(make([]byte, corkBuffer))
	tests := []struct {
		name string
		run  func(c *corkedConn)
		want []string
	}{
		{"uncorked writes go through", func(c *corkedConn) {
			_, _ = c.Write([]byte("a"))
			_, _ = c.Write([]byte("b"))
		}, []string{"a", "b"}},
		{"corked writes leave together", func(c *corkedConn) {
			c.cork()
			_, _ = c.Write([]byte("a"))
			_, _ = c.Write([]byte("b"))
			_ = c.uncork()
			_, _ = c.Write([]byte("c"))
		}, []string{"ab", "c"}},
		{"any uncork writes what is held", func(c *corkedConn) {
			c.cork()
			c.cork()
			_, _ = c.Write([]byte("a"))
			_ = c.uncork()
			_, _ = c.Write([]byte("b"))
			_ = c.uncork()
		}, []string{"a", "b"}},
		{"a full buffer writes through, in order", func(c *corkedConn) {
			c.cork()
			_, _ = c.Write([]byte("a"))
			_, _ = c.Write([]byte(big))
			_ = c.uncork()
		}, []string{"a", big}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &writesConn{}
			tt.run(&corkedConn{Conn: w})
			if len(w.writes) != len(tt.want) {
				t.Fatalf("got %d writes, want %d", len(w.writes), len(tt.want))
			}
			for i := range w.writes {
				if w.writes[i] != tt.want[i] {
					t.Errorf("write %d = %.10q (%d bytes), want %.10q (%d bytes)", i, w.writes[i], len(w.writes[i]), tt.want[i], len(tt.want[i]))
				}
			}
		})
	}
}

// TestCorkedConnFailure checks that a failed write of held bytes is
// reported by uncork, closes the socket and fails every later write.
func TestCorkedConnFailure(t *testing.T) {
	boom := errors.New("boom")
	w := &writesConn{}
	c := &corkedConn{Conn: w}
	c.cork()
	if n, err := c.Write([]byte("a")); n != 1 || err != nil {
		t.Fatalf("corked Write = %d, %v, want 1, nil", n, err)
	}
	w.err = boom
	if err := c.uncork(); !errors.Is(err, boom) {
		t.Fatalf("uncork = %v, want %v", err, boom)
	}
	if !w.closed {
		t.Error("the socket is still open after a failed write")
	}
	w.err = nil
	if _, err := c.Write([]byte("b")); !errors.Is(err, boom) {
		t.Errorf("Write after the failure = %v, want %v", err, boom)
	}
	if len(w.writes) != 0 {
		t.Errorf("writes reached the socket after the failure: %q", w.writes)
	}
}
