package transport

import (
	"errors"
	"reflect"
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

func TestParseURLHidesPassword(t *testing.T) {
	_, err := ParseURL("rabbit://user:s3cret@h:bad")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("ParseURL error %q shows the password", err)
	}
	u, err := ParseURL("rabbit://user:s3cret@h1,u2:pw2@h2/vh?ssl=1")
	if err != nil {
		t.Fatal(err)
	}
	if s := u.String(); strings.Contains(s, "s3cret") || strings.Contains(s, "pw2") || !strings.Contains(s, "h2:5672") {
		t.Errorf("String() = %q, want hosts without passwords", s)
	}
}

func TestTLS(t *testing.T) {
	for in, want := range map[string]bool{
		"amqps://h": true, "rabbit://h?ssl=true": true, "rabbit://h?ssl=1": true,
		"rabbit://h": false, "rabbit://h?ssl=0": false, "rabbit://h?ssl=maybe": false,
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
