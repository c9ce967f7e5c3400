package target

import (
	"errors"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name                     string
		tgt                      Target
		callOK, castOK, serverOK bool
	}{
		{"topic only", Target{Topic: "t"}, true, true, false},
		{"no topic", Target{Server: "s"}, false, false, false},
		{"fanout", Target{Topic: "t", Fanout: true}, false, true, false},
		{"server", Target{Topic: "t", Server: "s"}, true, true, true},
		{"bad version", Target{Topic: "t", Server: "s", Version: "1"}, false, false, false},
		{"good version", Target{Topic: "t", Server: "s", Version: "1.2.3"}, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(what string, err error, ok bool) {
				if ok && err != nil {
					t.Errorf("%s(%v) = %v, want nil", what, tt.tgt, err)
				}
				if !ok && !errors.Is(err, ErrInvalid) {
					t.Errorf("%s(%v) = %v, want ErrInvalid", what, tt.tgt, err)
				}
			}
			check("ValidateCall", tt.tgt.ValidateCall(), tt.callOK)
			check("ValidateCast", tt.tgt.ValidateCast(), tt.castOK)
			check("ValidateServer", tt.tgt.ValidateServer(), tt.serverOK)
		})
	}
}

func TestFanoutCallMessage(t *testing.T) {
	err := Target{Topic: "t", Fanout: true}.ValidateCall()
	if err == nil || err.Error() != "target: invalid target: a call cannot be used with fanout" {
		t.Errorf("ValidateCall(fanout) = %v", err)
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want Version
		ok   bool
	}{
		{"1.0", Version{1, 0, 0}, true},
		{"2.13", Version{2, 13, 0}, true},
		{"1.2.3", Version{1, 2, 3}, true},
		{"1", Version{}, false},
		{"", Version{}, false},
		{"1.2.3.4", Version{}, false},
		{"a.b", Version{}, false},
		{"1.-2", Version{}, false},
		{"1.+2", Version{}, false},
		{"1..2", Version{}, false},
	}
	for _, tt := range tests {
		got, err := ParseVersion(tt.in)
		if tt.ok && (err != nil || got != tt.want) {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if !tt.ok && !errors.Is(err, ErrBadVersion) {
			t.Errorf("ParseVersion(%q) = %v, %v; want ErrBadVersion", tt.in, got, err)
		}
	}
}

func TestVersionString(t *testing.T) {
	if s := (Version{1, 2, 0}).String(); s != "1.2" {
		t.Errorf("String() = %q, want 1.2", s)
	}
	if s := (Version{1, 2, 3}).String(); s != "1.2.3" {
		t.Errorf("String() = %q, want 1.2.3", s)
	}
}

func TestCompatible(t *testing.T) {
	tests := []struct {
		imp, req string
		want     bool
	}{
		{"", "", true},
		{"", "5.0", true},
		{"1.0", "", false},
		{"1.3", "1.2", true},
		{"1.3", "1.3", true},
		{"1.3", "1.4", false},
		{"1.3", "2.0", false},
		{"2.0", "1.0", false},
		{"1.3.2", "1.3.1", true},
		{"1.3.2", "1.3.3", false},
		{"1.3", "1.2.9", true},
		{"1.3", "bad", false},
		{"bad", "1.0", false},
	}
	for _, tt := range tests {
		if got := Compatible(tt.imp, tt.req); got != tt.want {
			t.Errorf("Compatible(%q, %q) = %v, want %v", tt.imp, tt.req, got, tt.want)
		}
	}
}

func TestString(t *testing.T) {
	tgt := Target{Exchange: "nova", Topic: "compute", Server: "h1", Namespace: "ns", Version: "1.2", Fanout: true}
	if got, want := tgt.String(), "nova/compute.h1 ns=ns v=1.2 fanout"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0", "1.2.3", "", "x", "1.-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		again, err := ParseVersion(v.String())
		if err != nil || again != v {
			t.Fatalf("ParseVersion(%q) = %v, but its String %q parses to %v, %v", s, v, v.String(), again, err)
		}
	})
}
