package transport

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Host is one broker address of a transport URL.
type Host struct {
	// Host is the host name or IP address, without brackets.
	Host string
	// Port is the TCP port: 5672 when the URL gives none, 5671 for amqps.
	Port int
	// Username and Password are the credentials, percent-decoded. Both are
	// "guest" when the URL gives none.
	Username, Password string
}

// Addr returns "host:port", bracketing IPv6 addresses.
func (h Host) Addr() string { return net.JoinHostPort(h.Host, strconv.Itoa(h.Port)) }

// URL is a parsed transport URL:
//
//	scheme://[user:pass@]host[:port][,[user:pass@]host[:port]...]/[vhost][?key=value&...]
//
// The scheme is rabbit, amqp, amqps or memory. Several hosts mean failover
// candidates.
type URL struct {
	// Scheme is "rabbit", "amqp", "amqps" or "memory".
	Scheme string
	// Hosts lists the brokers. A URL without a host gets
	// guest:guest@localhost. Empty for memory.
	Hosts []Host
	// VirtualHost is the AMQP virtual host, "/" when the URL gives none.
	VirtualHost string
	// Options holds the query parameters; repeated keys are joined with
	// commas. Drivers reject keys they do not know.
	Options map[string]string
}

// TLS reports whether the URL asks for TLS: scheme amqps, or option ssl set
// to a true value.
func (u *URL) TLS() bool {
	if u.Scheme == "amqps" {
		return true
	}
	v, err := strconv.ParseBool(u.Options["ssl"])
	return err == nil && v
}

// String formats u back into a URL with passwords masked, for logs.
func (u *URL) String() string {
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteString("://")
	for i, h := range u.Hosts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(url.User(h.Username).String())
		b.WriteString(":****@")
		b.WriteString(h.Addr())
	}
	b.WriteByte('/')
	if u.VirtualHost != "/" {
		b.WriteString(url.PathEscape(u.VirtualHost))
	}
	if len(u.Options) > 0 {
		keys := make([]string, 0, len(u.Options))
		for k := range u.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		q := url.Values{}
		for _, k := range keys {
			q.Set(k, u.Options[k])
		}
		b.WriteByte('?')
		b.WriteString(q.Encode())
	}
	return b.String()
}

func badURL(raw, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidURL, redact(raw), fmt.Sprintf(format, args...))
}

// redact hides the passwords of raw for error messages.
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	auth, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		auth, tail = rest[:i], rest[i:]
	}
	parts := strings.Split(auth, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			user, _, _ := strings.Cut(p[:at], ":")
			parts[i] = user + ":****" + p[at:]
		}
	}
	return scheme + "://" + strings.Join(parts, ",") + tail
}

// ParseURL parses a transport URL. Errors match ErrInvalidURL and never
// show the password.
func ParseURL(raw string) (*URL, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, badURL(raw, "missing scheme://")
	}
	scheme = strings.ToLower(scheme)
	u := &URL{Scheme: scheme, VirtualHost: "/", Options: map[string]string{}}
	defaultPort := 5672
	switch scheme {
	case "rabbit", "amqp":
	case "amqps":
		defaultPort = 5671
	case "memory":
	default:
		return nil, badURL(raw, "unknown scheme %q (want rabbit, amqp, amqps or memory)", scheme)
	}

	auth, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		auth, tail = rest[:i], rest[i:]
	}
	path, query, _ := strings.Cut(tail, "?")
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return nil, badURL(raw, "bad query: %v", err)
		}
		for k, vs := range q {
			u.Options[k] = strings.Join(vs, ",")
		}
	}
	if vh := strings.TrimPrefix(path, "/"); vh != "" && vh != "/" {
		v, err := url.PathUnescape(vh)
		if err != nil {
			return nil, badURL(raw, "bad virtual host: %v", err)
		}
		u.VirtualHost = v
	}
	if scheme == "memory" {
		return u, nil
	}
	if auth == "" {
		u.Hosts = []Host{{Host: "localhost", Port: defaultPort, Username: "guest", Password: "guest"}}
		return u, nil
	}
	for part := range strings.SplitSeq(auth, ",") {
		h, err := parseHost(part, defaultPort)
		if err != nil {
			return nil, badURL(raw, "%v", err)
		}
		u.Hosts = append(u.Hosts, h)
	}
	return u, nil
}

func parseHost(part string, defaultPort int) (Host, error) {
	if part == "" {
		return Host{}, fmt.Errorf("empty host in host list")
	}
	h := Host{Port: defaultPort, Username: "guest", Password: "guest"}
	hostport := part
	if at := strings.LastIndex(part, "@"); at >= 0 {
		userinfo := part[:at]
		hostport = part[at+1:]
		user, pass, _ := strings.Cut(userinfo, ":")
		var err error
		if h.Username, err = url.PathUnescape(user); err != nil {
			return Host{}, fmt.Errorf("bad user name: %v", err)
		}
		if h.Password, err = url.PathUnescape(pass); err != nil {
			return Host{}, fmt.Errorf("bad password encoding")
		}
	}
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.Index(hostport, "]")
		if end < 0 {
			return Host{}, fmt.Errorf("unclosed [ in host %q", hostport)
		}
		host, port = hostport[1:end], strings.TrimPrefix(hostport[end+1:], ":")
		if hostport[end+1:] != "" && !strings.HasPrefix(hostport[end+1:], ":") {
			return Host{}, fmt.Errorf("bad host %q", hostport)
		}
	} else if i := strings.LastIndex(hostport, ":"); i >= 0 {
		host, port = hostport[:i], hostport[i+1:]
	}
	if host == "" {
		return Host{}, fmt.Errorf("missing host name in %q", hostport)
	}
	if strings.ContainsAny(host, " /?#[]@") {
		return Host{}, fmt.Errorf("bad host name %q", host)
	}
	h.Host = host
	if port != "" {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return Host{}, fmt.Errorf("bad port %q", port)
		}
		h.Port = p
	}
	return h, nil
}
