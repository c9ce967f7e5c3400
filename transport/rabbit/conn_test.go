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
