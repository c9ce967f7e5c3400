// Package tcprelay is a TCP relay for tests that break the network
// between a client and a broker on purpose: it forwards every connection
// it accepts to one address, and can freeze (hold every byte, as a network
// that silently stops delivering) or cut (close every connection and
// refuse new ones, as a broker host that went away) until resumed.
package tcprelay

import (
	"context"
	"net"
	"sync"
)

// Relay forwards connections from its own address to a target address. It
// is safe for concurrent use.
type Relay struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	thaw    chan struct{} // closed while forwarding; open while frozen
	cut     bool
	closed  bool
	conns   map[net.Conn]struct{}
	refused int           // connections closed at accept while cut
	changed chan struct{} // closed and replaced on each refusal
	wg      sync.WaitGroup
}

// Start listens on a free port of 127.0.0.1 and forwards what it accepts
// to target ("host:port").
func Start(target string) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{target: target, ln: ln, thaw: make(chan struct{}), conns: make(map[net.Conn]struct{}), changed: make(chan struct{})}
	close(r.thaw)
	r.wg.Go(r.accept)
	return r, nil
}

// Addr returns the "host:port" clients dial.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Freeze stops forwarding in both directions: bytes are held, connections
// stay open, new connections are accepted and held too.
func (r *Relay) Freeze() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.thaw:
		r.thaw = make(chan struct{})
	default:
	}
}

// Cut closes every connection and closes new ones at once, until Resume.
func (r *Relay) Cut() {
	r.mu.Lock()
	r.cut = true
	conns := r.conns
	r.conns = make(map[net.Conn]struct{})
	r.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// Resume forwards again after Freeze (held bytes go on) or Cut.
func (r *Relay) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut = false
	select {
	case <-r.thaw:
	default:
		close(r.thaw)
	}
}

// AwaitRefused waits until the relay has refused n connections while cut,
// or ctx ends.
func (r *Relay) AwaitRefused(ctx context.Context, n int) error {
	for {
		r.mu.Lock()
		refused, changed := r.refused, r.changed
		r.mu.Unlock()
		if refused >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops the relay, closes every connection and waits for its
// goroutines.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	err := r.ln.Close()
	r.Cut()
	r.Resume()
	r.wg.Wait()
	return err
}

func (r *Relay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.cut || r.closed {
			r.refused++
			close(r.changed)
			r.changed = make(chan struct{})
			r.mu.Unlock()
			c.Close()
			continue
		}
		r.conns[c] = struct{}{}
		r.mu.Unlock()
		r.wg.Go(func() { r.serve(c) })
	}
}

// serve forwards c to the target until either side closes.
func (r *Relay) serve(c net.Conn) {
	defer r.forget(c)
	b, err := net.Dial("tcp", r.target)
	if err != nil {
		c.Close()
		return
	}
	r.mu.Lock()
	if _, ok := r.conns[c]; !ok {
		r.mu.Unlock()
		b.Close()
		return
	}
	r.conns[b] = struct{}{}
	r.mu.Unlock()
	defer r.forget(b)
	var wg sync.WaitGroup
	wg.Go(func() { r.pipe(b, c) })
	wg.Go(func() { r.pipe(c, b) })
	wg.Wait()
}

// pipe copies from src to dst, holding each chunk while frozen, and
// closes both when either side ends.
func (r *Relay) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			thaw := r.thaw
			r.mu.Unlock()
			<-thaw
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (r *Relay) forget(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}
