package wire

import (
	"bytes"
	"encoding/json"
	"testing"
)

// jsonSeeds are strings and documents that exercise every escape.
var jsonSeeds = []string{
	``, `plain`, `"quoted"`, `back\slash`, "tab\tnew\nline\r\b\f\x00\x1f\x7f",
	`<html> & co`, "caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff utf-8 \xc3",
	`{"method": "echo", "args": {"data": "x\"y"}, "_context_user": "u"}`,
	`"\ud83d\ude00 \u00e9 \/ \ud83d \udc00 x"`, `"\'"`, `"\u12"`, `"a` + "\x01" + `"`,
	`{"a": [1, {"b": "}"}, "]"], "c": null, "d": true, "e": -1.5e3, "f": "\\"}`,
	`{ "k" : "v" , "k" : "w" }`, `{"ſ": 1, "\u0041": 2}`,
	`{"oslo.version": "2.0", "oslo.message": "{\"method\": \"m\"}"}`,
	`{"OSLO.VERSION": "2.0", "oslo.message": "{}", "x": "y"} `,
	`"0123456789abcdef\"0123456789<abcdef>0123456789&abcdef\\0123456789abcdef\u00e90123456789abcdef"`,
	"\"0123456789abcdef\x1f0123456789abcdef\x7f0123456789abcdef\u00e90123456789abcdefghij\n\"",
}

// FuzzAppendString checks appendString against json.Marshal.
func FuzzAppendString(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		want, err := json.Marshal(string(s))
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
		if got := appendString([]byte("x"), string(s)); !bytes.Equal(got[1:], want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got[1:], want)
		}
	})
}

// FuzzParseString checks parseString against json.Unmarshal: whatever it
// accepts, encoding/json decodes to the same string, and it accepts every
// string json.Marshal writes for valid UTF-8.
func FuzzParseString(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if val, rest, ok := parseString(b); ok {
			var want string
			if err := json.Unmarshal(b[:len(b)-len(rest)], &want); err != nil {
				t.Fatalf("parseString(%q) = %q, but json.Unmarshal fails: %v", b, val, err)
			}
			if string(val) != want {
				t.Fatalf("parseString(%q) = %q, want %q", b, val, want)
			}
		}
		quoted, _ := json.Marshal(string(b))
		val, rest, ok := parseString(append(quoted, " x"...))
		var want string
		json.Unmarshal(quoted, &want)
		if ok && (string(val) != want || string(rest) != " x") {
			t.Fatalf("parseString(%s) = %q, %q, want %q, \" x\"", quoted, val, rest, want)
		}
		if !ok && string(quoted[1:len(quoted)-1]) == string(b) {
			t.Fatalf("parseString(%s) is not ok", quoted)
		}
	})
}

// FuzzMembers checks the member walk against decoding into a map of raw
// values, and parseEnvelope against decoding the envelope with
// encoding/json.
func FuzzMembers(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want map[string]json.RawMessage
		if json.Unmarshal(b, &want) == nil && want != nil {
			got := map[string]json.RawMessage{}
			m := newMembers(b)
			for key, val, ok := m.next(); ok; key, val, ok = m.next() {
				got[string(key)] = val
			}
			if m.err {
				t.Fatalf("walking %q failed", b)
			}
			if len(got) != len(want) {
				t.Fatalf("walking %q gave %d members, want %d", b, len(got), len(want))
			}
			for k, v := range want {
				if !bytes.Equal(got[k], v) {
					t.Fatalf("walking %q: member %q = %s, want %s", b, k, got[k], v)
				}
			}
		}
		version, msg, ok := parseEnvelope(b)
		if !ok {
			return
		}
		var env struct {
			Version *string `json:"oslo.version"`
			Message *string `json:"oslo.message"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatalf("parseEnvelope(%q) is ok, but json.Unmarshal fails: %v", b, err)
		}
		if (env.Version == nil) != (version == nil) || env.Version != nil && *env.Version != string(version) {
			t.Fatalf("parseEnvelope(%q) version = %q, want %v", b, version, env.Version)
		}
		if (env.Message == nil) != (msg == nil) || env.Message != nil && *env.Message != string(msg) {
			t.Fatalf("parseEnvelope(%q) message = %q, want %v", b, msg, env.Message)
		}
	})
}

// TestUnwrapOwnsMemory checks that what a decoder returns never shares
// memory with the body, which a driver may reuse.
func TestUnwrapOwnsMemory(t *testing.T) {
	bodies := []string{
		`{"method": "m", "args": {"a": 1}}`,
		`{"oslo.version": "2.0", "oslo.message": "{}"}`,
		`{"oslo.version": "2.0", "oslo.message": "{\"method\": \"m\", \"args\": {}}"}`,
	}
	for _, body := range bodies {
		b := []byte(body)
		inner, err := unwrap(b)
		if err != nil {
			t.Fatalf("unwrap(%s) = %v", body, err)
		}
		want := string(inner)
		for i := range b {
			b[i] = 'x'
		}
		if string(inner) != want {
			t.Errorf("unwrap(%s) = %s, changed to %s with the body", body, want, inner)
		}
	}
}

// FuzzValid checks valid against json.Valid.
func FuzzValid(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{`0`, `-0.5e+7`, `01`, `1.`, `-`, `[1,]`, `{"a":1,}`, `[]`, `{}`, ` [ ] `,
		`tru`, `nulls`, `"\u00"`, `[[[[]]]]`, `{"a" 1}`, `{1: 2}`, `"a" "b"`, `1e`, `[1 2]`} {
		f.Add([]byte(s))
	}
	f.Add(bytes.Repeat([]byte("["), maxDepth))
	f.Add(append(bytes.Repeat([]byte("["), maxDepth), bytes.Repeat([]byte("]"), maxDepth)...))
	f.Add(append(bytes.Repeat([]byte("["), maxDepth+1), bytes.Repeat([]byte("]"), maxDepth+1)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := valid(b), json.Valid(b); got != want {
			t.Fatalf("valid(%q) = %v, want %v", b, got, want)
		}
	})
}
