package integration_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/internal/certtest"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/rabbit"
)

// TestTLS runs RPC over the TLS listener of a RabbitMQ node of its own,
// whose certificate names localhost only and which requires a client
// certificate signed by the test's CA: mutual TLS through the URL's ssl_*
// options and through rabbit.TLSConfig, and the dials that must fail.
func TestTLS(t *testing.T) {
	ca := certtest.NewCA(t, "warren integration CA")
	node := startTLSNode(t, ca, ca.Issue(t, "localhost", "localhost"))
	client := ca.Issue(t, "warren-tls-client")
	dir := t.TempDir()
	files := url.Values{
		"ssl_ca_file":   {certtest.Write(t, dir, "ca.pem", ca.PEM)},
		"ssl_cert_file": {certtest.Write(t, dir, "client.pem", client.CertPEM)},
		"ssl_key_file":  {certtest.Write(t, dir, "client.key", client.KeyPEM)},
	}
	stranger := certtest.Write(t, dir, "stranger.pem", certtest.NewCA(t, "stranger CA").PEM)
	at := func(userinfo, host, query string) string {
		return fmt.Sprintf("amqps://%s@%s:%d/?%s", userinfo, host, node.tlsPort, query)
	}
	good := at("guest:guest", "localhost", files.Encode())

	t.Run("mutual TLS", func(t *testing.T) {
		tr := dialTLS(t, good)
		roundTrip(t, tr, tr)
		out, err := node.ctl(withTimeout(t, waitLimit), "list_connections", "-q", "--no-table-headers", "ssl", "peer_cert_subject")
		if err != nil {
			t.Fatalf("rabbitmqctl list_connections: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		for _, l := range lines {
			if !strings.HasPrefix(l, "true") || !strings.Contains(l, "CN=warren-tls-client") {
				t.Errorf("the node lists connection %q, want TLS with the client certificate", l)
			}
		}
		if len(lines) != 2 {
			t.Errorf("the node lists %d connections, want the transport's 2:\n%s", len(lines), out)
		}
	})

	t.Run("TLSConfig", func(t *testing.T) {
		cfg := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client.TLS(t)}}
		roundTrip(t, dialTLS(t, at("guest:guest", "localhost", ""), rabbit.TLSConfig(cfg)), dialTLS(t, good))
	})

	cases := []struct {
		name, url string
		wantErr   any      // an error type the error must hold, or nil
		want      []string // texts the error must hold one of
	}{
		// With TLS 1.3 the client finishes its handshake before the broker
		// checks its certificate: the broker's alert reaches the client
		// unless its next write meets the closed socket first. amqp091
		// may then say only that the connection closed; the transport
		// adds the error its connection met.
		{name: "no client certificate", url: at("guest:guest", "localhost", "ssl_ca_file="+url.QueryEscape(files.Get("ssl_ca_file"))),
			want: []string{"certificate required", "connection reset by peer", "broken pipe"}},
		{name: "wrong host name", url: at("guest:guest", "127.0.0.1", files.Encode()),
			wantErr: new(x509.HostnameError), want: []string{"127.0.0.1"}},
		{name: "unknown CA", url: at("guest:guest", "localhost", "ssl_ca_file="+url.QueryEscape(stranger)),
			wantErr: new(x509.UnknownAuthorityError), want: []string{"unknown authority"}},
		{name: "wrong password", url: at("guest:Wr0ng-Pa55", "localhost", files.Encode()),
			want: []string{"username or password not allowed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := rabbit.Dial(withTimeout(t, waitLimit), c.url)
			if err == nil {
				tr.Close()
				t.Fatalf("rabbit.Dial(%s) = nil, want an error", c.url)
			}
			if c.wantErr != nil && !errors.As(err, c.wantErr) {
				t.Errorf("rabbit.Dial(%s) = %v, want a %T", c.url, err, c.wantErr)
			}
			t.Logf("rabbit.Dial: %v", err)
			msg := err.Error()
			said := slices.ContainsFunc(c.want, func(w string) bool { return strings.Contains(msg, w) })
			if !said || strings.Contains(msg, "Wr0ng") || strings.Contains(msg, "Pa55") {
				t.Errorf("rabbit.Dial(%s) = %q, want it to say one of %q and show no password", c.url, msg, c.want)
			}
		})
	}
}

// dialTLS dials rawURL, closed when the test ends.
func dialTLS(t *testing.T, rawURL string, opts ...rabbit.Option) *rabbit.Transport {
	t.Helper()
	tr, err := rabbit.Dial(withTimeout(t, waitLimit), rawURL, opts...)
	if err != nil {
		t.Fatalf("rabbit.Dial(%s) = %v", rawURL, err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("Transport.Close: %v", err)
		}
	})
	return tr
}

// roundTrip serves the echo endpoint on server and calls it from client.
func roundTrip(t *testing.T, server, client *rabbit.Transport) {
	t.Helper()
	tgt := target.Target{Exchange: unique(t, "tls-x"), Topic: unique(t, "tls"), Server: "s1"}
	serve(t, server, tgt, []*endpoints.Endpoint{echoEndpoint()})
	var got benchArgs
	if err := rpcclient.New(client, tgt).Call(withTimeout(t, waitLimit), "echo", benchRequest, &got); err != nil {
		t.Fatalf("Call over TLS = %v", err)
	}
	if got.B != benchRequest.B {
		t.Errorf("Call over TLS = %+v, want %+v", got, benchRequest)
	}
}
