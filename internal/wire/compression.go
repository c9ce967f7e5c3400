package wire

import (
	"bytes"
	"compress/bzip2"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
)

// Compression content types, as kombu names them in a message's
// compression header.
const (
	// Gzip is kombu_compression=gzip: a zlib stream (kombu compresses with
	// Python's zlib.compress).
	Gzip = "application/x-gzip"
	// Bzip2 is kombu_compression=bz2. warren reads it and never sends it.
	Bzip2 = "application/x-bz2"
)

// ErrCompression means a body's compression is unknown or its compressed
// stream is broken.
var ErrCompression = errors.New("wire: bad compression")

// Compress returns body compressed as kombu's gzip: a zlib stream.
func Compress(body []byte) []byte {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	_, _ = w.Write(body) // a bytes.Buffer does not fail
	_ = w.Close()
	return b.Bytes()
}

// Decompress returns body uncompressed from contentType (Gzip or Bzip2,
// or one of kombu's aliases gzip, zlib, bzip2, bz2). A stream that
// uncompresses to more than limit bytes is an error (limit <= 0: no
// limit), so that a small message cannot exhaust memory. Errors match
// ErrCompression. A stream that breaks part way (cut short, corrupted, or
// over the limit) still gives what it uncompressed up to there, at most
// limit bytes, with the error: enough, often, to tell who sent it (see
// Peek).
func Decompress(body []byte, contentType string, limit int) ([]byte, error) {
	var r io.Reader
	switch contentType {
	case Gzip, "gzip", "zlib":
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCompression, contentType, err)
		}
		defer zr.Close()
		r = zr
	case Bzip2, "bzip2", "bz2":
		r = bzip2.NewReader(bytes.NewReader(body))
	default:
		return nil, fmt.Errorf("%w: unknown compression %q (want %s or %s)", ErrCompression, contentType, Gzip, Bzip2)
	}
	if limit > 0 {
		r = io.LimitReader(r, int64(limit)+1)
	}
	out, err := io.ReadAll(r)
	if limit > 0 && len(out) > limit {
		return out[:limit], fmt.Errorf("%w: %s body uncompresses to more than %d bytes", ErrCompression, contentType, limit)
	}
	if err != nil {
		return out, fmt.Errorf("%w: %s: %v", ErrCompression, contentType, err)
	}
	return out, nil
}
