package rabbit

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/warrenrpc/warren/transport"
)

// FuzzDialHidesPassword checks that Dial's errors show nothing between a
// ':' and a later '@' of its URL, as transport's FuzzParseURLHidesPassword
// checks for ParseURL, through the query options, the TLS files and the
// failed connections: the URL is a + ":" + p + "@" + b with each byte of p
// fenced by '~', and no TCP connection is opened. A URL that parses into
// several hosts is taken as written (its ',' and '@' delimit hosts, which
// errors name), so only single-host URLs are held to that.
func FuzzDialHidesPassword(f *testing.F) {
	for _, seed := range [][3]string{
		{"rabbit://user", "pw", "h:5672/vh?prefetch=x"},
		{"amqps://user", "pw", "h/?ssl_ca_file=/missing.pem"},
		{"amqps://user", "pw", "h/?ssl_version=TLSv1&ssl=no"},
		{"rabbit://user", "p/w", "h/?bogus=1"},
		{"rabbit://user", "p?w", "h"},
		{"rabbit://user", "p,w", "h:1"},
		{"rabbit://user", "1234,abc", "h"},
		{"amqp://u", "pw@h1,u2:pw2", "h2/?heartbeat_in_pthread=1"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	noNetwork := func(s *settings) {
		s.dialContext = func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("no network in this test")
		}
	}
	f.Fuzz(func(t *testing.T, a, p, b string) {
		if strings.Contains(a, "~") || strings.Contains(b, "~") {
			return
		}
		var fenced strings.Builder
		fenced.WriteByte('~')
		for i := 0; i < len(p); i++ {
			fenced.WriteByte(p[i])
			fenced.WriteByte('~')
		}
		raw := a + ":" + fenced.String() + "@" + b
		if u, err := transport.ParseURL(raw); err == nil && len(u.Hosts) > 1 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tr, err := Dial(ctx, raw, noNetwork)
		if err == nil {
			tr.Close()
			t.Fatalf("Dial(%q) = nil error without a network", raw)
		}
		if strings.Contains(err.Error(), "~") {
			t.Fatalf("Dial(%q) = %q, which shows the password", raw, err)
		}
	})
}
