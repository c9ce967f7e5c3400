package wire

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// pythonGzip is zlib.compress(b'{"oslo.version": "2.0"}') from Python 3,
// as kombu's gzip compression sends it.
const pythonGzip = "eJyrVsovzsnXK0stKs7Mz1OyUlAy0jNQqgUAYhMHXA=="

func TestDecompress(t *testing.T) {
	want := []byte(`{"oslo.version": "2.0"}`)
	py, err := base64.URLEncoding.DecodeString(pythonGzip)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, contentType string
		body              []byte
	}{
		{"python zlib", Gzip, py},
		{"alias", "gzip", py},
		{"round trip", Gzip, Compress(want)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decompress(c.body, c.contentType, 1000)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("Decompress(%q, %s) = %q, %v; want %q", c.body, c.contentType, got, err, want)
			}
		})
	}
	bad := []struct {
		name, contentType string
		body              []byte
		limit             int
	}{
		{"not zlib", Gzip, want, 1000},
		{"not bz2", Bzip2, want, 1000},
		{"truncated", Gzip, Compress(want)[:10], 1000},
		{"unknown", "application/x-lzma", want, 1000},
		{"over the limit", Gzip, Compress([]byte(strings.Repeat("a", 2000))), 1000},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			if got, err := Decompress(c.body, c.contentType, c.limit); !errors.Is(err, ErrCompression) {
				t.Errorf("Decompress(%s) = %q, %v; want ErrCompression", c.name, got, err)
			}
		})
	}
}

// TestDecompressBrokenStream checks that a stream cut short or with a bad
// checksum still gives what it held up to there, in which Peek finds the
// ids of a request (oslo.messaging puts them after the method and the
// arguments).
func TestDecompressBrokenStream(t *testing.T) {
	body := []byte(`{"oslo.version": "2.0", "oslo.message": "{\"method\": \"m\", \"args\": {}, \"_msg_id\": \"abc123\", \"_reply_q\": \"reply_42\", ` +
		strings.Repeat(`\"_context_k\": \"v\", `, 200) + `\"_unique_id\": \"u1\"}"}`)
	z := Compress(body)
	badSum := bytes.Clone(z)
	badSum[len(badSum)-1] ^= 0xff
	cases := []struct {
		name  string
		in    []byte
		limit int
	}{
		{"bad checksum", badSum, 0},
		{"cut short", z[:len(z)*3/4], 0},
		{"over the limit", z, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := Decompress(c.in, Gzip, c.limit)
			if !errors.Is(err, ErrCompression) || !bytes.HasPrefix(body, out) {
				t.Fatalf("Decompress(%s) = %d bytes, %v; want a prefix of the body and ErrCompression", c.name, len(out), err)
			}
			if id, q := Peek(out); id != "abc123" || q != "reply_42" {
				t.Errorf("Peek(Decompress(%s)) = %q, %q; want abc123, reply_42", c.name, id, q)
			}
		})
	}
}

// FuzzDecompress checks that no body makes Decompress panic or return
// more than its limit.
func FuzzDecompress(f *testing.F) {
	f.Add(Compress([]byte(`{"a": 1}`)), true)
	f.Add([]byte("BZh91AY&SY"), false)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, body []byte, gzip bool) {
		ct := Bzip2
		if gzip {
			ct = Gzip
		}
		out, err := Decompress(body, ct, 4096)
		if len(out) > 4096 {
			t.Fatalf("Decompress returned %d bytes (error %v), over its limit", len(out), err)
		}
		if err != nil && !errors.Is(err, ErrCompression) {
			t.Fatalf("Decompress error %v does not match ErrCompression", err)
		}
		// What a broken stream gave is the start of what it holds.
		if full, ferr := Decompress(body, ct, 0); err != nil && ferr == nil && !bytes.HasPrefix(full, out) {
			t.Fatalf("Decompress with a limit gave %q, not a prefix of %q", out, full)
		}
	})
}
