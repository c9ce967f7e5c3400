package rabbit

import (
	"bytes"
	"context"
	"crypto/fips140"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenrpc/warren/internal/certtest"
	"github.com/warrenrpc/warren/transport"
)

// pki is a CA, a certificate it signs for the host broker.test and for
// 127.0.0.1, a client certificate, and their files in one directory.
type pki struct {
	ca                        *certtest.CA
	server, client            certtest.Pair
	dir                       string
	caFile, certFile, keyFile string // the CA and the client's certificate and key
}

func newPKI(t *testing.T) *pki {
	p := &pki{ca: certtest.NewCA(t, "warren test CA"), dir: t.TempDir()}
	p.server = p.ca.Issue(t, "broker", "broker.test", "127.0.0.1")
	p.client = p.ca.Issue(t, "warren-client")
	p.caFile = certtest.Write(t, p.dir, "ca.pem", p.ca.PEM)
	p.certFile = certtest.Write(t, p.dir, "client.pem", p.client.CertPEM)
	p.keyFile = certtest.Write(t, p.dir, "client.key", p.client.KeyPEM)
	return p
}

// query returns the URL query that names p's files.
func (p *pki) query() string {
	return "ssl_ca_file=" + url.QueryEscape(p.caFile) + "&ssl_cert_file=" + url.QueryEscape(p.certFile) +
		"&ssl_key_file=" + url.QueryEscape(p.keyFile)
}

// applyTLS applies rawURL and opts to default settings as Dial does.
func applyTLS(t *testing.T, rawURL string, opts ...Option) (settings, error) {
	t.Helper()
	u, err := transport.ParseURL(rawURL)
	if err != nil {
		t.Fatalf("ParseURL(%q) = %v", rawURL, err)
	}
	s := defaultSettings()
	for _, o := range opts {
		o(&s)
	}
	return s, s.applyURL(u)
}

func TestTLSOptions(t *testing.T) {
	p := newPKI(t)
	both := certtest.Write(t, p.dir, "both.pem", append(bytes.Clone(p.client.CertPEM), p.client.KeyPEM...))
	own := &tls.Config{ServerName: "shared.test", MinVersion: tls.VersionTLS13}
	cases := []struct {
		name  string
		url   string
		opts  []Option
		check func(c *tls.Config) bool
	}{
		{"amqp", "amqp://h", nil, func(c *tls.Config) bool { return c == nil }},
		{"ssl false", "rabbit://h?ssl=off", nil, func(c *tls.Config) bool { return c == nil }},
		{"amqps", "amqps://h", nil, func(c *tls.Config) bool {
			return c.MinVersion == tls.VersionTLS12 && c.RootCAs == nil && len(c.Certificates) == 0 && !c.InsecureSkipVerify
		}},
		{"ssl yes", "rabbit://h:5671?ssl=yes", nil, func(c *tls.Config) bool { return c != nil }},
		{"ca file", "amqps://h?ssl_ca_file=" + p.caFile, nil, func(c *tls.Config) bool {
			return c.RootCAs.Equal(p.ca.Pool()) && len(c.Certificates) == 0
		}},
		{"client certificate", "amqps://h?" + p.query(), nil, func(c *tls.Config) bool {
			return c.RootCAs.Equal(p.ca.Pool()) && len(c.Certificates) == 1
		}},
		{"certificate and key in one file", "amqps://h?ssl_cert_file=" + both, nil, func(c *tls.Config) bool {
			return len(c.Certificates) == 1
		}},
		{"TLSv1_2", "amqps://h?ssl_version=TLSv1_2", nil, func(c *tls.Config) bool {
			return c.MinVersion == tls.VersionTLS12 && c.MaxVersion == tls.VersionTLS12
		}},
		{"SSLv23", "amqps://h?ssl_version=sslv23", nil, func(c *tls.Config) bool {
			return c.MinVersion == tls.VersionTLS12 && c.MaxVersion == 0
		}},
		{"hostname verification on", "amqps://h?ssl_enforce_hostname_verification=true", nil, func(c *tls.Config) bool {
			return !c.InsecureSkipVerify && c.VerifyConnection == nil
		}},
		{"hostname verification off", "amqps://h?ssl_enforce_hostname_verification=false", nil, func(c *tls.Config) bool {
			return c.InsecureSkipVerify && c.VerifyConnection != nil
		}},
		{"fips off", "amqps://h?ssl_enforce_fips_mode=no", nil, func(c *tls.Config) bool { return c != nil }},
		{"TLSConfig", "amqps://h", []Option{TLSConfig(own)}, func(c *tls.Config) bool {
			return c != own && c.ServerName == "shared.test" && c.MinVersion == tls.VersionTLS13
		}},
		{"TLSConfig and ca file", "amqps://h?ssl_ca_file=" + p.caFile, []Option{TLSConfig(own)}, func(c *tls.Config) bool {
			return c.ServerName == "shared.test" && c.RootCAs.Equal(p.ca.Pool()) && own.RootCAs == nil
		}},
		{"TLSConfig nil", "amqp://h", []Option{TLSConfig(nil)}, func(c *tls.Config) bool { return c == nil }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := applyTLS(t, c.url, c.opts...)
			if err != nil {
				t.Fatalf("applyURL(%q) = %v", c.url, err)
			}
			if !c.check(s.tlsClient) {
				t.Errorf("applyURL(%q) built %+v", c.url, s.tlsClient)
			}
		})
	}
}

func TestTLSOptionErrors(t *testing.T) {
	p := newPKI(t)
	other := certtest.NewCA(t, "other CA").Issue(t, "other")
	otherKey := certtest.Write(t, p.dir, "other.key", other.KeyPEM)
	keyAsCA := certtest.Write(t, p.dir, "key-as-ca.pem", p.client.KeyPEM)
	missing := filepath.Join(p.dir, "missing.pem")
	huge := certtest.Write(t, p.dir, "huge.pem", bytes.Repeat(p.ca.PEM, maxPEMFile/len(p.ca.PEM)+1))
	type errorCase struct {
		name string
		url  string
		opts []Option
		// want are texts the error must hold.
		want     []string
		invalid  bool // the error matches transport.ErrInvalidURL
		notExist bool // the error matches fs.ErrNotExist
	}
	cases := []errorCase{
		{name: "ssl not a boolean", url: "rabbit://h?ssl=maybe", want: []string{"ssl", `"maybe"`}, invalid: true},
		{name: "ssl false with amqps", url: "amqps://h?ssl=false", want: []string{"ssl=false contradicts scheme amqps"}, invalid: true},
		{name: "ca file without TLS", url: "rabbit://h?ssl_ca_file=" + p.caFile, want: []string{"ssl_ca_file given, but the URL asks for no TLS"}},
		{name: "TLSConfig without TLS", url: "amqp://h", opts: []Option{TLSConfig(&tls.Config{})}, want: []string{"TLSConfig given"}},
		{name: "hostname verification off without TLS", url: "amqp://h?ssl_enforce_hostname_verification=0", want: []string{"ssl_enforce_hostname_verification=false given"}},
		{name: "TLSv1", url: "amqps://h?ssl_version=TLSv1", want: []string{`ssl_version "TLSv1" is not supported`}, invalid: true},
		{name: "TLSv1_1", url: "amqps://h?ssl_version=tlsv1_1", want: []string{"not supported"}, invalid: true},
		{name: "unknown version", url: "amqps://h?ssl_version=TLSv9", want: []string{`ssl_version "TLSv9" is unknown`}, invalid: true},
		{name: "unknown ssl option", url: "amqps://h?ssl_ciphers=x", want: []string{`unknown query option "ssl_ciphers"`}, invalid: true},
		{name: "bad hostname verification", url: "amqps://h?ssl_enforce_hostname_verification=sometimes", want: []string{"ssl_enforce_hostname_verification"}, invalid: true},
		{name: "missing ca file", url: "amqps://h?ssl_ca_file=" + missing, want: []string{"ssl_ca_file", missing}, notExist: true},
		{name: "ca file is a directory", url: "amqps://h?ssl_ca_file=" + p.dir, want: []string{"ssl_ca_file", p.dir, "not a regular file"}},
		{name: "ca file is a device", url: "amqps://h?ssl_ca_file=/dev/zero", want: []string{"ssl_ca_file", "/dev/zero", "not a regular file"}},
		{name: "ca file too large", url: "amqps://h?ssl_ca_file=" + huge, want: []string{"ssl_ca_file", huge, "larger than 8 MiB"}},
		{name: "ca file holds a key", url: "amqps://h?ssl_ca_file=" + keyAsCA, want: []string{keyAsCA, "holds no PEM certificate"}},
		{name: "missing certificate file", url: "amqps://h?ssl_cert_file=" + missing, want: []string{"ssl_cert_file", missing}, notExist: true},
		{name: "missing key file", url: "amqps://h?ssl_cert_file=" + p.certFile + "&ssl_key_file=" + missing, want: []string{"ssl_key_file", missing}, notExist: true},
		{name: "key without certificate", url: "amqps://h?ssl_key_file=" + p.keyFile, want: []string{"ssl_key_file", "without ssl_cert_file"}},
		{name: "certificate without key", url: "amqps://h?ssl_cert_file=" + p.certFile, want: []string{p.certFile, "certificate and key"}},
		{name: "key of another certificate", url: "amqps://h?ssl_cert_file=" + p.certFile + "&ssl_key_file=" + otherKey, want: []string{p.certFile, otherKey, "does not match"}},
		{name: "certificate and key swapped", url: "amqps://h?ssl_cert_file=" + p.keyFile + "&ssl_key_file=" + p.certFile, want: []string{p.keyFile, p.certFile}},
	}
	if !fips140.Enabled() {
		cases = append(cases, errorCase{name: "fips", url: "amqps://h?ssl_enforce_fips_mode=true", want: []string{"GODEBUG=fips140=on"}})
	}
	secrets := [][]byte{p.client.KeyPEM, other.KeyPEM, p.client.CertPEM}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := applyTLS(t, c.url, c.opts...)
			if err == nil {
				t.Fatalf("applyURL(%q) = nil, want an error", c.url)
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("applyURL(%q) = %q, want it to say %q", c.url, msg, w)
				}
			}
			if got := errors.Is(err, transport.ErrInvalidURL); got != c.invalid {
				t.Errorf("applyURL(%q) = %v; matches ErrInvalidURL: %v, want %v", c.url, err, got, c.invalid)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != c.notExist {
				t.Errorf("applyURL(%q) = %v; matches fs.ErrNotExist: %v, want %v", c.url, err, got, c.notExist)
			}
			for _, s := range secrets {
				for _, line := range strings.Split(string(s), "\n")[1:3] {
					if strings.Contains(msg, line) {
						t.Errorf("applyURL(%q) = %q, which shows the content of a PEM file", c.url, msg)
					}
				}
			}
		})
	}
}

// TestIgnoredOsloOptions checks that oslo.messaging options without a
// meaning for warren are accepted with one warning naming them.
func TestIgnoredOsloOptions(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	_, err := applyTLS(t, "rabbit://h?heartbeat_in_pthread=true&rpc_conn_pool_size=30", Logger(log))
	if err != nil {
		t.Fatalf("applyURL = %v, want the options accepted", err)
	}
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") ||
		!strings.Contains(lines[0], "heartbeat_in_pthread") || !strings.Contains(lines[0], "rpc_conn_pool_size") {
		t.Errorf("logged %q, want one warning naming both options", logged.String())
	}
}

// tlsBroker is a TLS server that stands in for a broker: it completes
// the handshake, reports it, and closes the connection. Dial then fails
// after the handshake, which is what these tests look at.
type tlsBroker struct {
	ln        net.Listener
	handshake chan handshake
	wg        sync.WaitGroup
}

// handshake is what the server saw of one TLS handshake.
type handshake struct {
	clientCN string // the client certificate's common name, if any
	err      error
}

// newTLSBroker serves pair on a local port. It asks for a client
// certificate signed by ca and verifies it when one comes.
func newTLSBroker(t *testing.T, ca *certtest.CA, pair certtest.Pair) *tlsBroker {
	cfg := &tls.Config{
		Certificates: []tls.Certificate{pair.TLS(t)},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    ca.Pool(),
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &tlsBroker{ln: ln, handshake: make(chan handshake, 4)}
	b.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			tc := conn.(*tls.Conn)
			hs := handshake{err: tc.HandshakeContext(context.Background())}
			if hs.err == nil {
				if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
					hs.clientCN = certs[0].Subject.CommonName
				}
				_, hs.err = io.ReadFull(tc, make([]byte, 8)) // the AMQP protocol header
			}
			conn.Close()
			select {
			case b.handshake <- hs:
			default:
			}
		}
	})
	t.Cleanup(func() {
		ln.Close()
		b.wg.Wait()
	})
	return b
}

// to makes a transport dial the broker whatever host its URL names.
func (b *tlsBroker) to() Option {
	return func(s *settings) {
		s.dialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, b.ln.Addr().String())
		}
	}
}

// TestDialTLS dials a TLS server with a certificate for broker.test and
// 127.0.0.1: hostname verification, unknown roots, client certificates.
func TestDialTLS(t *testing.T) {
	p := newPKI(t)
	stranger := certtest.NewCA(t, "stranger CA")
	strangerFile := certtest.Write(t, p.dir, "stranger.pem", stranger.PEM)
	cases := []struct {
		name, url string
		opts      []Option
		// wantCN is the client certificate the server must see; "-" for
		// a handshake the client must refuse.
		wantCN  string
		wantErr any // an error type the client's error must hold
	}{
		{name: "ca file", url: "amqps://broker.test?ssl_ca_file=" + p.caFile},
		{name: "ssl option", url: "rabbit://broker.test?ssl=true&ssl_ca_file=" + p.caFile},
		{name: "ip address", url: "amqps://127.0.0.1?ssl_ca_file=" + p.caFile},
		{name: "client certificate", url: "amqps://broker.test?" + p.query(), wantCN: "warren-client"},
		{name: "TLSConfig", url: "amqps://broker.test", wantCN: "warren-client",
			opts: []Option{TLSConfig(&tls.Config{RootCAs: p.ca.Pool(), Certificates: []tls.Certificate{p.client.TLS(t)}})}},
		{name: "TLSv1_2", url: "amqps://broker.test?ssl_version=TLSv1_2&ssl_ca_file=" + p.caFile},
		{name: "wrong host name", url: "amqps://wrong.test?ssl_ca_file=" + p.caFile, wantCN: "-", wantErr: new(x509.HostnameError)},
		{name: "wrong host name unchecked", url: "amqps://wrong.test?ssl_enforce_hostname_verification=false&ssl_ca_file=" + p.caFile},
		{name: "system roots", url: "amqps://broker.test", wantCN: "-", wantErr: new(x509.UnknownAuthorityError)},
		{name: "unknown CA", url: "amqps://broker.test?ssl_ca_file=" + strangerFile, wantCN: "-", wantErr: new(x509.UnknownAuthorityError)},
		{name: "unknown CA, host name unchecked", url: "amqps://wrong.test?ssl_enforce_hostname_verification=false&ssl_ca_file=" + strangerFile,
			wantCN: "-", wantErr: new(x509.UnknownAuthorityError)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newTLSBroker(t, p.ca, p.server)
			// The server speaks no AMQP after the handshake: one attempt.
			opts := append(c.opts, b.to(), Reconnect(Backoff{Attempts: 1}))
			_, err := Dial(within(t, 10*time.Second), c.url, opts...)
			if err == nil {
				t.Fatalf("Dial(%s) = nil, want an error after the handshake", c.url)
			}
			var hs handshake
			select {
			case hs = <-b.handshake:
			case <-time.After(10 * time.Second):
				t.Fatalf("Dial(%s) = %v, and the server saw no handshake", c.url, err)
			}
			if c.wantErr != nil {
				if !errors.As(err, c.wantErr) {
					t.Errorf("Dial(%s) = %v, want a %T", c.url, err, c.wantErr)
				}
				if hs.err == nil {
					t.Errorf("the server saw a good handshake for %s, want the client to refuse it", c.url)
				}
				return
			}
			if hs.err != nil || hs.clientCN != c.wantCN {
				t.Errorf("Dial(%s): server saw client certificate %q, error %v; want %q, no error", c.url, hs.clientCN, hs.err, c.wantCN)
			}
			var cve *tls.CertificateVerificationError
			if errors.As(err, &cve) {
				t.Errorf("Dial(%s) = %v, want no certificate error", c.url, err)
			}
		})
	}
}
