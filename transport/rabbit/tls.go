package rabbit

import (
	"crypto/fips140"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/warrenrpc/warren/transport"
)

// tlsKeys are the transport URL query keys of TLS, with oslo.messaging's
// names and meanings.
var tlsKeys = []string{
	"ssl", "ssl_ca_file", "ssl_cert_file", "ssl_key_file", "ssl_version",
	"ssl_enforce_hostname_verification", "ssl_enforce_fips_mode",
}

// tlsSettings are what the TLSConfig option and the URL's ssl_* query
// options ask for. The zero value asks for nothing.
type tlsSettings struct {
	// config is the TLSConfig option's; nil means Go's defaults with the
	// system's roots.
	config *tls.Config
	// caFile, certFile and keyFile are PEM files: the roots that sign the
	// broker's certificate, the client certificate, and its key (in the
	// certificate file when keyFile is empty).
	caFile, certFile, keyFile string
	// version is ssl_version as given; empty means negotiate.
	version string
	// ssl is the ssl option when the URL gives it.
	ssl *bool
	// skipHostname turns off the check that the broker's certificate names
	// the host dialed, keeping the check of its chain.
	skipHostname bool
	// fips requires Go's FIPS 140-3 mode.
	fips bool
}

// applyURL applies the TLS query option key=v.
func (ts *tlsSettings) applyURL(key, v string) error {
	switch key {
	case "ssl", "ssl_enforce_hostname_verification", "ssl_enforce_fips_mode":
		b, err := transport.ParseBool(v)
		if err != nil {
			return fmt.Errorf("rabbit: %w: %s: %v", transport.ErrInvalidURL, key, err)
		}
		switch key {
		case "ssl":
			ts.ssl = &b
		case "ssl_enforce_hostname_verification":
			ts.skipHostname = !b
		default:
			ts.fips = b
		}
	case "ssl_ca_file":
		ts.caFile = v
	case "ssl_cert_file":
		ts.certFile = v
	case "ssl_key_file":
		ts.keyFile = v
	case "ssl_version":
		if _, err := tlsVersion(v); err != nil {
			return fmt.Errorf("rabbit: %w: %v", transport.ErrInvalidURL, err)
		}
		ts.version = v
	}
	return nil
}

// tlsVersion returns the TLS version that oslo.messaging's ssl_version v
// pins, or 0 to negotiate. Versions before TLS 1.2 are refused.
func tlsVersion(v string) (uint16, error) {
	switch strings.ToLower(v) {
	case "", "sslv23":
		return 0, nil
	case "tlsv1_2":
		return tls.VersionTLS12, nil
	case "sslv2", "sslv3", "tlsv1", "tlsv1_1":
		return 0, fmt.Errorf("ssl_version %q is not supported: warren speaks TLS 1.2 and later (use TLSv1_2, SSLv23 or nothing)", v)
	}
	return 0, fmt.Errorf("ssl_version %q is unknown (want TLSv1_2 or SSLv23)", v)
}

// build returns the TLS configuration for the URL u, or nil when u asks
// for no TLS. It reads the CA, certificate and key files, so that a
// missing or bad file fails Dial at once; its errors name the files,
// never their content.
func (ts *tlsSettings) build(u *transport.URL) (*tls.Config, error) {
	if u.Scheme == "amqps" && ts.ssl != nil && !*ts.ssl {
		return nil, fmt.Errorf("rabbit: %w: ssl=false contradicts scheme amqps", transport.ErrInvalidURL)
	}
	if !u.TLS() {
		if given := ts.given(); len(given) > 0 {
			return nil, fmt.Errorf("rabbit: %s given, but the URL asks for no TLS: use amqps:// or ssl=true", strings.Join(given, ", "))
		}
		return nil, nil
	}
	if ts.fips && !fips140.Enabled() {
		return nil, errors.New("rabbit: ssl_enforce_fips_mode=true, but Go's FIPS 140-3 mode is off: run the program with GODEBUG=fips140=on")
	}
	var c *tls.Config
	if ts.config != nil {
		c = ts.config.Clone()
	} else {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if v, _ := tlsVersion(ts.version); v != 0 {
		c.MinVersion, c.MaxVersion = v, v
	}
	if ts.caFile != "" {
		pem, err := readPEM("ssl_ca_file", ts.caFile)
		if err != nil {
			return nil, err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("rabbit: ssl_ca_file %q holds no PEM certificate", ts.caFile)
		}
		c.RootCAs = roots
	}
	switch {
	case ts.certFile != "":
		cert, err := loadKeyPair(ts.certFile, ts.keyFile)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	case ts.keyFile != "":
		return nil, fmt.Errorf("rabbit: ssl_key_file %q given without ssl_cert_file", ts.keyFile)
	}
	if ts.skipHostname {
		verifyChainOnly(c)
	}
	return c, nil
}

// given names the TLS settings that ask for something.
func (ts *tlsSettings) given() []string {
	var given []string
	for _, s := range []struct {
		name string
		set  bool
	}{
		{"TLSConfig", ts.config != nil},
		{"ssl_ca_file", ts.caFile != ""},
		{"ssl_cert_file", ts.certFile != ""},
		{"ssl_key_file", ts.keyFile != ""},
		{"ssl_version", ts.version != ""},
		{"ssl_enforce_hostname_verification=false", ts.skipHostname},
		{"ssl_enforce_fips_mode=true", ts.fips},
	} {
		if s.set {
			given = append(given, s.name)
		}
	}
	return given
}

// loadKeyPair reads the client certificate and its key; the key is in the
// certificate file when keyFile is empty, as oslo.messaging allows.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := readPEM("ssl_cert_file", certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, files := certPEM, fmt.Sprintf("ssl_cert_file %q (certificate and key)", certFile)
	if keyFile != "" {
		if keyPEM, err = readPEM("ssl_key_file", keyFile); err != nil {
			return tls.Certificate{}, err
		}
		files = fmt.Sprintf("ssl_cert_file %q and ssl_key_file %q", certFile, keyFile)
	}
	// crypto/tls's errors describe the PEM blocks by type, never by
	// content.
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("rabbit: %s: %w", files, err)
	}
	return cert, nil
}

// maxPEMFile bounds the size of a CA, certificate or key file: the
// largest CA bundles are well under a megabyte.
const maxPEMFile = 8 << 20

// readPEM reads the PEM file path that the URL option key names. It
// refuses what is not a regular file or is larger than maxPEMFile, so
// that a name such as /dev/zero cannot hang or exhaust Dial.
func readPEM(key, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("rabbit: %s: %w", key, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("rabbit: %s: %w", key, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("rabbit: %s %q is not a regular file", key, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, fmt.Errorf("rabbit: %s: %w", key, err)
	}
	if len(data) > maxPEMFile {
		return nil, fmt.Errorf("rabbit: %s %q is larger than %d MiB", key, path, maxPEMFile>>20)
	}
	return data, nil
}

// verifyChainOnly makes c check the broker's certificate chain against
// c.RootCAs (the system's when nil) but not the host name it is for, as
// oslo.messaging's ssl_enforce_hostname_verification=false does.
func verifyChainOnly(c *tls.Config) {
	roots, next := c.RootCAs, c.VerifyConnection
	c.InsecureSkipVerify = true
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("rabbit: the broker sent no certificate")
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, cert := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(cert)
		}
		if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			return &tls.CertificateVerificationError{UnverifiedCertificates: slices.Clone(cs.PeerCertificates), Err: err}
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
}

// tlsFor returns the TLS configuration for one connection to host: a
// copy of c whose ServerName, unless c sets one, is host, so that the
// broker's certificate must name the host dialed.
func tlsFor(c *tls.Config, host string) *tls.Config {
	c = c.Clone()
	if c.ServerName == "" {
		c.ServerName = host
	}
	return c
}
