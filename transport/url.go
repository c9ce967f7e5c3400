package transport

import (
	"errors"
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

// TLS reports whether the URL asks for TLS: scheme amqps, or option ssl
// set to a true value (see ParseBool).
func (u *URL) TLS() bool {
	if u.Scheme == "amqps" {
		return true
	}
	v, err := ParseBool(u.Options["ssl"])
	return err == nil && v
}

// ParseBool parses the boolean value of a URL option as oslo.config does:
// true, yes, on and 1 are true; false, no, off and 0 are false; letter case
// does not matter. Anything else is an error.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (want true, yes, on, 1, false, no, off or 0)", s)
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
		// A query may hold '/' as it is, and file paths read better so.
		b.WriteString(strings.ReplaceAll(q.Encode(), "%2F", "/"))
	}
	return b.String()
}

// badURL returns an error matching ErrInvalidURL that shows raw with its
// passwords hidden. detail must not quote any part of raw's host list:
// with a malformed URL, any of it may be a password.
func badURL(raw, detail string) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidURL, redact(raw), detail)
}

// redact hides whatever could be a password in raw, for error messages:
// everything from the first ':' of raw to its last '@'. A well-formed
// password lies between the ':' and the '@' of a userinfo, but a malformed
// URL may carry a password with an unescaped ':', '@', '/', '?', '#' or ','
// in it, so that no narrower cut is safe. User names are hidden with the
// passwords; the scheme, the last host, the virtual host and the query stay.
//
//	rabbit://user:pa/ss@h1:5672,u2:pw2@h2/vh?ssl=1  ->  rabbit://****@h2/vh?ssl=1
func redact(raw string) string {
	at := strings.LastIndexByte(raw, '@')
	colon := strings.IndexByte(raw, ':')
	if at < 0 || colon < 0 || colon > at {
		return raw
	}
	head := raw[:colon+1]
	if strings.HasPrefix(raw[colon+1:at], "//") {
		head += "//"
	}
	return head + "****" + raw[at:]
}

// ParseURL parses a transport URL. Errors match ErrInvalidURL and never
// show a password, nor any text between a ':' and a later '@', however
// malformed the URL. A password holding '/', '?', '#', ',', ':' or '@' must
// be percent-encoded (%2F, %3F, %23, %2C, %3A, %40), and an '@' in the
// virtual host or the query too; URLs where some hosts have credentials and
// others not are refused, since they are most often a password cut in two
// by a ','.
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
		if strings.ContainsAny(scheme, ":@") {
			return nil, badURL(raw, "unknown scheme (want rabbit, amqp, amqps or memory)")
		}
		return nil, badURL(raw, fmt.Sprintf("unknown scheme %q (want rabbit, amqp, amqps or memory)", scheme))
	}

	auth, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		auth, tail = rest[:i], rest[i:]
	}
	if strings.Contains(tail, "@") {
		// Either a password holds an unescaped '/' or '?', or the virtual
		// host or query holds an '@': parsing on would show the first.
		return nil, badURL(raw, "'@' after the host list: percent-encode '/', '?' and '@' in passwords, and '@' in the virtual host and query")
	}
	path, query, _ := strings.Cut(tail, "?")
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return nil, badURL(raw, fmt.Sprintf("bad query: %v", err))
		}
		for k, vs := range q {
			u.Options[k] = strings.Join(vs, ",")
		}
	}
	if vh := strings.TrimPrefix(path, "/"); vh != "" && vh != "/" {
		v, err := url.PathUnescape(vh)
		if err != nil {
			return nil, badURL(raw, fmt.Sprintf("bad virtual host: %v", err))
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
	parts := strings.Split(auth, ",")
	for i, part := range parts {
		h, err := parseHost(part, defaultPort)
		if err != nil {
			if len(parts) > 1 {
				err = fmt.Errorf("host %d of %d: %w", i+1, len(parts), err)
			}
			return nil, badURL(raw, err.Error())
		}
		if strings.Contains(part, "@") != strings.Contains(parts[0], "@") {
			// Most likely a password with a ',' cut in two: parsing on
			// would show its halves as hosts.
			return nil, badURL(raw, "some hosts have credentials and some do not: give them to every host or to none, and percent-encode ',' in passwords (%2C)")
		}
		u.Hosts = append(u.Hosts, h)
	}
	return u, nil
}

// parseHost parses one [user[:password]@]host[:port] of a host list. Its
// errors quote nothing of part, which may be a piece of a password.
func parseHost(part string, defaultPort int) (Host, error) {
	if part == "" {
		return Host{}, errors.New("empty host")
	}
	h := Host{Port: defaultPort, Username: "guest", Password: "guest"}
	hostport := part
	if at := strings.LastIndex(part, "@"); at >= 0 {
		userinfo := part[:at]
		hostport = part[at+1:]
		user, pass, _ := strings.Cut(userinfo, ":")
		var err error
		if h.Username, err = url.PathUnescape(user); err != nil {
			return Host{}, errors.New("bad percent-encoding in the user name")
		}
		if h.Password, err = url.PathUnescape(pass); err != nil {
			return Host{}, errors.New("bad percent-encoding in the password")
		}
	}
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.Index(hostport, "]")
		if end < 0 {
			return Host{}, errors.New("unclosed [ in the host")
		}
		host, port = hostport[1:end], strings.TrimPrefix(hostport[end+1:], ":")
		if hostport[end+1:] != "" && !strings.HasPrefix(hostport[end+1:], ":") {
			return Host{}, errors.New("text after ] in the host")
		}
	} else if i := strings.LastIndex(hostport, ":"); i >= 0 {
		host, port = hostport[:i], hostport[i+1:]
	}
	if host == "" {
		return Host{}, errors.New("missing host name")
	}
	if strings.ContainsFunc(host, badHostRune) {
		return Host{}, errors.New("bad character in the host name")
	}
	h.Host = host
	if port != "" {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return Host{}, errors.New("bad port (want 1 to 65535)")
		}
		h.Port = p
	}
	return h, nil
}

// badHostRune reports whether r may not appear in a host name: URL
// delimiters, spaces and control characters.
func badHostRune(r rune) bool {
	return strings.ContainsRune(" /?#[]@", r) || r < ' ' || r == 0x7f
}
