package transport

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	guest := func(host string, port int) Host {
		return Host{Host: host, Port: port, Username: "guest", Password: "guest"}
	}
	tests := []struct {
		name string
		in   string
		want *URL
	}{
		{"default", "rabbit://", &URL{Scheme: "rabbit", Hosts: []Host{guest("localhost", 5672)}, VirtualHost: "/"}},
		{"host", "rabbit://h", &URL{Scheme: "rabbit", Hosts: []Host{guest("h", 5672)}, VirtualHost: "/"}},
		{"host slash", "rabbit://h/", &URL{Scheme: "rabbit", Hosts: []Host{guest("h", 5672)}, VirtualHost: "/"}},
		{"double slash", "rabbit://h//", &URL{Scheme: "rabbit", Hosts: []Host{guest("h", 5672)}, VirtualHost: "/"}},
		{"vhost", "amqp://u:p@h:1234/nova", &URL{Scheme: "amqp", Hosts: []Host{{"h", 1234, "u", "p"}}, VirtualHost: "nova"}},
		{"escaped vhost", "amqp://h/%2Fprod", &URL{Scheme: "amqp", Hosts: []Host{guest("h", 5672)}, VirtualHost: "/prod"}},
		{"amqps port", "amqps://h", &URL{Scheme: "amqps", Hosts: []Host{guest("h", 5671)}, VirtualHost: "/"}},
		{"multi host", "rabbit://u:p@h:10,u2:p2@h2:12/vh", &URL{Scheme: "rabbit",
			Hosts: []Host{{"h", 10, "u", "p"}, {"h2", 12, "u2", "p2"}}, VirtualHost: "vh"}},
		{"escaped password", "rabbit://u:p%40ss%3Aw@h", &URL{Scheme: "rabbit", Hosts: []Host{{"h", 5672, "u", "p@ss:w"}}, VirtualHost: "/"}},
		{"ipv6", "rabbit://u:p@[::1]:5673/", &URL{Scheme: "rabbit", Hosts: []Host{{"::1", 5673, "u", "p"}}, VirtualHost: "/"}},
		{"ipv6 no port", "rabbit://[fe80::1]", &URL{Scheme: "rabbit", Hosts: []Host{guest("fe80::1", 5672)}, VirtualHost: "/"}},
		{"options", "rabbit://h/?prefetch=10&ssl=1&x=a&x=b", &URL{Scheme: "rabbit", Hosts: []Host{guest("h", 5672)}, VirtualHost: "/",
			Options: map[string]string{"prefetch": "10", "ssl": "1", "x": "a,b"}}},
		{"upper scheme", "RABBIT://h", &URL{Scheme: "rabbit", Hosts: []Host{guest("h", 5672)}, VirtualHost: "/"}},
		{"memory", "memory://", &URL{Scheme: "memory", VirtualHost: "/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseURL(tt.in)
			if err != nil {
				t.Fatalf("ParseURL(%q) = %v", tt.in, err)
			}
			if tt.want.Options == nil {
				tt.want.Options = map[string]string{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseURL(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"no scheme", "localhost:5672"},
		{"unknown scheme", "http://h"},
		{"empty host in list", "rabbit://h1,,h2"},
		{"bad port", "rabbit://h:99999"},
		{"port not a number", "rabbit://h:abc"},
		{"unclosed ipv6", "rabbit://[::1"},
		{"junk after ipv6", "rabbit://[::1]x"},
		{"missing host", "rabbit://u:p@:5672"},
		{"bad query", "rabbit://h/?a=%zz"},
		{"bad password escape", "rabbit://u:%zz@h"},
		{"bad user escape", "rabbit://%zz:p@h"},
		{"control character in host", "rabbit://h\tx"},
		{"at in query", "rabbit://h/?ssl_ca_file=/a@b"},
		{"at in vhost", "rabbit://h/a@b"},
		{"credentials for some hosts", "rabbit://u:1234,abc@h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseURL(tt.in)
			if !errors.Is(err, ErrInvalidURL) {
				t.Fatalf("ParseURL(%q) = %+v, %v; want ErrInvalidURL", tt.in, u, err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"rabbit://u:p@h", "rabbit://****@h"},
		{"rabbit://u:p@h1,u2:p2@h2:5673/vh?ssl=1", "rabbit://****@h2:5673/vh?ssl=1"},
		{"rabbit://h:5672/vh", "rabbit://h:5672/vh"},
		{"rabbit://user@h", "rabbit://****@h"},
		{"rabbit:u:p@h", "rabbit:****@h"},
		{"u:p@h", "u:****@h"},
		{"rabbit://u:p/a?s#s,w:o@rd@h/x", "rabbit://****@h/x"},
		{"no at: rabbit://h", "no at: rabbit://h"},
		{"at@before:colon", "at@before:colon"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// malformedWithPassword are URLs with the password pieces Xq7 and Zk9,
// in the shapes a hand-written URL goes wrong: unescaped delimiters in the
// password, bad hosts, ports and schemes after credentials.
var malformedWithPassword = []string{
	"rabbit://user:Xq7/Zk9@h:5672/",
	"rabbit://user:Xq7?Zk9@h:5672/",
	"rabbit://user:Xq7#Zk9@h:bad/",
	"rabbit://user:Xq7,Zk9@h:5672/",
	"rabbit://user:Xq7:Zk9@h:bad/",
	"rabbit://user:Xq7@Zk9@h:bad/",
	"rabbit://user:Xq7%zzZk9@h/",
	"rabbit://user:Xq7Zk9@h:99999/",
	"rabbit://user:Xq7Zk9@h:abc",
	"rabbit://user:Xq7Zk9@",
	"rabbit://user:Xq7Zk9@:5672",
	"rabbit://user:Xq7Zk9@[::1",
	"rabbit://user:Xq7Zk9@[::1]x",
	"rabbit://user:Xq7Zk9@h\tx/",
	"rabbit://user:Xq7Zk9@h1,,u2:Xq7Zk9@h2",
	"rabbit://user:Xq7Zk9@h1:bad,u2:Xq7Zk9@h2",
	"rabbit://user:Xq7Zk9@h/?a=%zz",
	"rabbit://user:Xq7Zk9@h/%zz",
	"rabbit://user:Xq7/Zk9@h/?ssl_ca_file=/a@b",
	"http://user:Xq7Zk9@h/",
	"ampq://user:Xq7Zk9@h/",
	"rabbit:/user:Xq7Zk9@h/",
	"user:Xq7Zk9@h:5672",
	"user:Xq7Zk9@rabbit://h",
	"rabbit://user:Xq7\nZk9@h:bad",
}

func TestParseURLHidesPassword(t *testing.T) {
	for _, in := range malformedWithPassword {
		u, err := ParseURL(in)
		if err == nil {
			t.Errorf("ParseURL(%q) = %v, want an error", in, u)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "Xq7") || strings.Contains(msg, "Zk9") {
			t.Errorf("ParseURL(%q) = %q, which shows the password", in, msg)
		}
	}
	u, err := ParseURL("rabbit://user:s3cret@h1,u2:pw2@h2/vh?ssl=1")
	if err != nil {
		t.Fatal(err)
	}
	if s := u.String(); strings.Contains(s, "s3cret") || strings.Contains(s, "pw2") || !strings.Contains(s, "h2:5672") {
		t.Errorf("String() = %q, want hosts without passwords", s)
	}
	raw := "amqps://u:p@h:5671/vh?ssl_ca_file=/etc/a%26b.pem&x=1"
	if u, err = ParseURL(raw); err != nil {
		t.Fatal(err)
	}
	if s, want := u.String(), "amqps://u:****@h:5671/vh?ssl_ca_file=/etc/a%26b.pem&x=1"; s != want {
		t.Errorf("ParseURL(%q).String() = %q, want %q", raw, s, want)
	}
	if back, err := ParseURL(u.String()); err != nil || !reflect.DeepEqual(back.Options, u.Options) {
		t.Errorf("ParseURL(%q) = %+v, %v; want the options of %q", u.String(), back, err, raw)
	}
}

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{
		"true": true, "True": true, "YES": true, "on": true, "1": true,
		"false": false, "FALSE": false, "no": false, "Off": false, "0": false,
	} {
		if got, err := ParseBool(in); err != nil || got != want {
			t.Errorf("ParseBool(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "t", "2", "maybe", "yes please"} {
		if got, err := ParseBool(in); err == nil {
			t.Errorf("ParseBool(%q) = %v, want an error", in, got)
		}
	}
}

func TestTLS(t *testing.T) {
	for in, want := range map[string]bool{
		"amqps://h": true, "rabbit://h?ssl=true": true, "rabbit://h?ssl=1": true, "rabbit://h?ssl=yes": true,
		"rabbit://h": false, "rabbit://h?ssl=0": false, "rabbit://h?ssl=off": false, "rabbit://h?ssl=maybe": false,
	} {
		u, err := ParseURL(in)
		if err != nil {
			t.Fatal(err)
		}
		if u.TLS() != want {
			t.Errorf("ParseURL(%q).TLS() = %v, want %v", in, u.TLS(), want)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"rabbit://", "rabbit://u:p@h:10,u2:p2@h2:12/vh?x=1", "amqps://[::1]:5671/%2F", "memory://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURL(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidURL) {
				t.Fatalf("ParseURL(%q) = %v, want ErrInvalidURL", s, err)
			}
			return
		}
		for _, h := range u.Hosts {
			if h.Host == "" || h.Port < 1 || h.Port > 65535 {
				t.Fatalf("ParseURL(%q) gave host %+v", s, h)
			}
		}
	})
}

// FuzzParseURLHidesPassword checks that no error shows anything between a
// ':' and a later '@', and that String shows no password. The fuzzer
// writes the URL a + ":" + p + "@" + b, with any a, p and b, and each byte
// of p fenced by '~', which a and b may not hold and no message holds
// otherwise: any two adjacent bytes of p that show carry a '~'.
//
// A URL that parses is taken as written: with one host, p lies inside its
// password and nothing of it may show; with several, the ',' and '@' of p
// may delimit hosts, which String shows, but String must not depend on
// the passwords.
func FuzzParseURLHidesPassword(f *testing.F) {
	for _, s := range malformedWithPassword {
		// Split at the ':' and '@' around the password pieces.
		at := strings.LastIndex(s, "@")
		colon := strings.LastIndex(s[:strings.Index(s, "Xq7")], ":")
		f.Add(s[:colon], s[colon+1:at], s[at+1:])
	}
	f.Add("rabbit://user", "pw", "h1:5672,u2:pw2@h2:5673/vh?ssl=1")
	f.Add("rabbit://user", "pw@h1,u2:pw2", "h2/vh")
	f.Add("rabbit://u", "1234,abc", "h")
	f.Add("amqps://", "", "[::1]:5671/%2F")
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
		s := a + ":" + fenced.String() + "@" + b
		u, err := ParseURL(s)
		if err != nil {
			if strings.Contains(err.Error(), "~") {
				t.Fatalf("ParseURL(%q) = %q, which shows the password", s, err)
			}
			return
		}
		str := u.String()
		if len(u.Hosts) == 1 && strings.Contains(str, "~") {
			t.Fatalf("ParseURL(%q).String() = %q, which shows the password", s, str)
		}
		other := *u
		other.Hosts = slices.Clone(u.Hosts)
		for i := range other.Hosts {
			other.Hosts[i].Password += "?"
		}
		if other.String() != str {
			t.Fatalf("ParseURL(%q).String() = %q changes with the passwords", s, str)
		}
	})
}
