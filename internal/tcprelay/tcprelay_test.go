package tcprelay

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echoServer echoes every connection until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen = %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// roundTrip writes p on c and reads it back within d.
func roundTrip(c net.Conn, p string, d time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	if _, err := c.Write([]byte(p)); err != nil {
		return err
	}
	buf := make([]byte, len(p))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != p {
		return errors.New("echo mismatch: " + string(buf))
	}
	return nil
}

func TestRelayForwardsFreezesAndCuts(t *testing.T) {
	r, err := Start(echoServer(t))
	if err != nil {
		t.Fatalf("Start = %v", err)
	}
	defer r.Close()
	c, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatalf("Dial = %v", err)
	}
	defer c.Close()
	if err := roundTrip(c, "one", 5*time.Second); err != nil {
		t.Fatalf("round trip through the relay = %v", err)
	}

	r.Freeze()
	var ne net.Error
	if err := roundTrip(c, "two", 200*time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("round trip while frozen = %v, want a timeout", err)
	}
	r.Resume()
	// The held bytes go on once the relay resumes.
	buf := make([]byte, 3)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "two" {
		t.Fatalf("held bytes after Resume = %q, %v; want \"two\"", buf, err)
	}

	r.Cut()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatalf("Read on a cut connection succeeded")
	}
	c2, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatalf("Dial while cut = %v", err)
	}
	defer c2.Close()
	if err := r.AwaitRefused(context.Background(), 1); err != nil {
		t.Fatalf("AwaitRefused = %v", err)
	}
	_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(buf); err == nil {
		t.Fatalf("Read on a connection made while cut succeeded")
	}
	r.Resume()
	c3, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatalf("Dial after Resume = %v", err)
	}
	defer c3.Close()
	if err := roundTrip(c3, "three", 5*time.Second); err != nil {
		t.Fatalf("round trip after Resume = %v", err)
	}
}
