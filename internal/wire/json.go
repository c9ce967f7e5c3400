package wire

import (
	"bytes"
	"encoding/json"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// The envelope holds the message as a JSON string, so every body is
// escaped and unescaped once more than its message. encoding/json offers
// no way to quote bytes, to unquote a string without a scanner pass over
// it, or to find a member's raw value without decoding the whole object
// twice (a validity pass, then the decoding pass), which for a 1 MB body
// costs tens of milliseconds. The helpers below do these three things in
// one tight loop each. They produce exactly what encoding/json produces,
// which the differential tests and fuzz targets in json_test.go check, and
// they give up (ok false) on anything unusual, leaving it to encoding/json.

// hexDigits are the digits of \u escapes, lower case as encoding/json
// writes them.
const hexDigits = "0123456789abcdef"

// plainOut marks the ASCII bytes encoding/json writes unescaped in a
// string: printable ones, DEL, but not ", \, <, > or &.
var plainOut = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// Word-at-a-time scanning: with x eight bytes of a string, has(x, c) has
// the high bit of each byte that equals c set (and perhaps of bytes after
// such a byte), below(x, n) of each byte less than n; zero means none.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

func has(x uint64, c byte) uint64   { y := x ^ (ones * uint64(c)); return (y - ones) &^ y & highs }
func below(x uint64, n byte) uint64 { return (x - ones*uint64(n)) &^ x & highs }

// plainWords returns the index of the first eight-byte word of s[i:] that
// may hold a byte other than printable ASCII but " and \, or len(s)
// rounded down to a word: the bytes before it need no look.
func plainWords[S []byte | string](s S, i int, html bool) int {
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		m := x&highs | below(x, 0x20) | has(x, '"') | has(x, '\\')
		if html {
			m |= has(x, '<') | has(x, '>') | has(x, '&')
		}
		if m != 0 {
			break
		}
	}
	return i
}

// skipPlain returns the index after the plain byte s[i]: after the plain
// words from i on when there are some, or i+1. After a word that was not
// plain it goes byte by byte up to *words, the end of that word, which it
// keeps up to date.
func skipPlain[S []byte | string](s S, i int, words *int, html bool) int {
	if i >= *words {
		if j := plainWords(s, i, html); j > i {
			return j
		}
		*words = i + 8
	}
	return i + 1
}

// appendString appends s as a JSON string, byte for byte as json.Marshal
// encodes string(s): with <, > and & escaped, invalid UTF-8 as \ufffd and
// U+2028 and U+2029 escaped.
func appendString[S []byte | string](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start, words := 0, 0 // words: where to try a word at a time again
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plainOut[c] {
				i = skipPlain(s, i, &words, true)
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// quotedLen returns an upper bound, exact for most input, of the length
// of s as appendString writes it, so that one allocation holds it.
func quotedLen(s []byte) int {
	return len(s) + 2 + bytes.Count(s, []byte{'"'}) + bytes.Count(s, []byte{'\\'}) + bytes.Count(s, []byte{'\n'})
}

// stringEnd returns the index in b of the quote that closes the JSON
// string opening at b[0], or -1 when there is none.
func stringEnd(b []byte) int {
	for i := 1; i < len(b); {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		k := i + j
		n := 0 // backslashes right before the quote
		for k-1-n >= 1 && b[k-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return k
		}
		i = k + 1
	}
	return -1
}

// parseString reads the JSON string at the start of b and returns its
// value, as encoding/json decodes it into a string, and the bytes after
// it. The value is a sub-slice of b when the string has no escapes. ok is
// false when b does not start with a valid string, and when the string
// holds invalid UTF-8 or an invalid surrogate escape, which encoding/json
// replaces with U+FFFD: the caller then hands b to encoding/json.
func parseString(b []byte) (val, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	end := stringEnd(b)
	if end < 0 {
		return nil, nil, false
	}
	s := b[1:end]
	var out []byte       // nil until the first escape
	start, words := 0, 0 // words: where to try a word at a time again
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 0x20 && c < utf8.RuneSelf && c != '\\':
			i = skipPlain(s, i, &words, false)
			continue
		case c < 0x20:
			return nil, nil, false
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, nil, false
			}
			i += size
			continue
		}
		// A backslash; stringEnd saw to it that a byte follows.
		if out == nil {
			out = make([]byte, 0, len(s))
		}
		out = append(out, s[start:i]...)
		switch e := s[i+1]; {
		case unescape[e] != 0:
			out = append(out, unescape[e])
			i += 2
		case e == 'u':
			r := hex4(s[i+2:])
			if r < 0 {
				return nil, nil, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if len(s) >= i+2 && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hex4(s[i+2:])
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return nil, nil, false
				}
				i += 6
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, nil, false
		}
		start = i
	}
	if out == nil {
		return s, b[end+1:], true
	}
	return append(out, s[start:]...), b[end+1:], true
}

// unescape maps the letter of each one-letter JSON escape to its byte.
var unescape = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// hex4 returns the value of the four hex digits b starts with, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// isSpaceByte reports whether c is JSON whitespace.
func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpaceByte(b[0]) {
		b = b[1:]
	}
	return b
}

// skipValue returns the length of the JSON value at the start of b, which
// is valid JSON (valid accepted the document it is part of); 0 when
// b does not start a value.
func skipValue(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	switch b[0] {
	case '"':
		return stringEnd(b) + 1
	case '{', '[':
		depth := 0
		for i := 0; i < len(b); i++ {
			switch b[i] {
			case '"':
				n := stringEnd(b[i:])
				if n < 0 {
					return 0
				}
				i += n
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return 0
	}
	i := 0 // a number, true, false or null
	for i < len(b) && !isSpaceByte(b[i]) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
		i++
	}
	return i
}

// members walks the members of a JSON object that valid accepted.
type members struct {
	rest []byte
	err  bool // the object did not have the shape valid promises
}

// newMembers returns a walk over the members of obj.
func newMembers(obj []byte) members {
	obj = trimSpace(obj)
	if len(obj) == 0 || obj[0] != '{' {
		return members{err: true}
	}
	return members{rest: obj[1:]}
}

// next returns the next member: its key, decoded, and its raw value. ok
// is false at the end of the object (and on a shape error, which sets
// m.err).
func (m *members) next() (key, val []byte, ok bool) {
	b := trimSpace(m.rest)
	if len(b) > 0 && b[0] == ',' {
		b = trimSpace(b[1:])
	}
	if len(b) == 0 || b[0] == '}' {
		m.err = m.err || len(b) == 0
		return nil, nil, false
	}
	if key, m.rest, ok = parseString(b); ok {
		b = m.rest
	} else {
		// A key parseString leaves to encoding/json.
		var k string
		n := stringEnd(b)
		if n < 0 || json.Unmarshal(b[:n+1], &k) != nil {
			m.err = true
			return nil, nil, false
		}
		key, b = []byte(k), b[n+1:]
	}
	b = trimSpace(b)
	if len(b) == 0 || b[0] != ':' {
		m.err = true
		return nil, nil, false
	}
	b = trimSpace(b[1:])
	n := skipValue(b)
	if n <= 0 || n > len(b) {
		m.err = true
		return nil, nil, false
	}
	m.rest = b[n:]
	return key, b[:n], true
}

// parseEnvelope reads body as a JSON object whose values are all strings,
// as a 2.0 envelope is, and returns the values of oslo.version and
// oslo.message (nil when absent; keys match as encoding/json matches
// struct fields). ok is false when body is not such an object, or has
// anything parseString leaves to encoding/json.
func parseEnvelope(body []byte) (version, msg []byte, ok bool) {
	b := trimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return nil, nil, false
	}
	b = trimSpace(b[1:])
	if len(b) > 0 && b[0] == '}' {
		return nil, nil, len(trimSpace(b[1:])) == 0
	}
	for {
		var key, val []byte
		if key, b, ok = parseString(b); !ok {
			return nil, nil, false
		}
		b = trimSpace(b)
		if len(b) == 0 || b[0] != ':' {
			return nil, nil, false
		}
		if val, b, ok = parseString(trimSpace(b[1:])); !ok {
			return nil, nil, false
		}
		switch {
		case bytes.EqualFold(key, []byte(versionKey)):
			version = val
		case bytes.EqualFold(key, []byte(messageKey)):
			msg = val
		}
		b = trimSpace(b)
		switch {
		case len(b) > 0 && b[0] == ',':
			b = trimSpace(b[1:])
		case len(b) > 0 && b[0] == '}':
			return version, msg, len(trimSpace(b[1:])) == 0
		default:
			return nil, nil, false
		}
	}
}

// bufPool holds the buffers messages are built in before the envelope
// quotes them into the body.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooled is the largest buffer put back into bufPool: a rare large
// message must not keep its memory.
const maxPooled = 64 << 10

// maxDepth is encoding/json's limit on nesting: a document nested deeper
// is not valid to it.
const maxDepth = 10000

// plainIn marks the bytes a JSON string holds as they are: all but
// control characters, " and \.
var plainIn = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// valid reports whether b is one valid JSON document, as json.Valid does,
// in one pass without encoding/json's per-byte state machine.
func valid(b []byte) bool {
	var buf [64]byte
	stack := buf[:0] // the open containers: '{' or '['
	i := 0
	for {
		// A value starts at i, perhaps after whitespace.
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) == maxDepth {
				return false
			}
			stack = append(stack, c)
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // } is {+2, ] is [+2
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				i = memberKey(b, i)
				if i < 0 {
					return false
				}
			}
			continue
		case '"':
			i = validString(b, i)
		case 't':
			i = literal(b, i, "true")
		case 'f':
			i = literal(b, i, "false")
		case 'n':
			i = literal(b, i, "null")
		default:
			i = number(b, i)
		}
		if i < 0 {
			return false
		}
		// After a value: close containers, or go on to the next element.
		for {
			i = skipSpace(b, i)
			if len(stack) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			top := stack[len(stack)-1]
			if b[i] == top+2 {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return false
			}
			i++
			if top == '{' {
				if i = memberKey(b, skipSpace(b, i)); i < 0 {
					return false
				}
			}
			break
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpaceByte(b[i]) {
		i++
	}
	return i
}

// memberKey checks the key and colon of an object member at b[i:] and
// returns the index after the colon, or -1.
func memberKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = validString(b, i); i < 0 {
		return -1
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return i + 1
}

// validString checks the string at b[i:] and returns the index after it,
// or -1.
func validString(b []byte, i int) int {
	words := 0 // where to try a word at a time again
	for i++; i < len(b); {
		if plainIn[b[i]] {
			i = skipPlain(b, i, &words, false)
			continue
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(b[i+2:]) < 0 {
					return -1
				}
				i += 6
			default:
				return -1
			}
		default: // a control character
			return -1
		}
	}
	return -1
}

// literal checks that b[i:] starts with lit and returns the index after
// it, or -1.
func literal(b []byte, i int, lit string) int {
	if !bytes.HasPrefix(b[i:], []byte(lit)) {
		return -1
	}
	return i + len(lit)
}

// number checks the number at b[i:] and returns the index after it, or -1.
func number(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if i = digits(b, i+1); i < 0 {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i = digits(b, i); i < 0 {
			return -1
		}
	}
	return i
}

// digits skips one or more digits at b[i:] and returns the index after
// them, or -1 when there is none.
func digits(b []byte, i int) int {
	start := i
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	if i == start {
		return -1
	}
	return i
}
