package wire

import "bytes"

// Peek returns the _msg_id and _reply_q of a body that may not decode:
// it finds the two keys in the body, escaped inside an envelope or not, and
// reads their string values without parsing the rest. A driver uses it for
// a message it must reject, so that the call waiting for it gets an error
// instead of waiting out its timeout. Either result is empty when it is not
// found. Values are ids and queue names: letters, digits and "_.:-".
func Peek(body []byte) (msgID, replyTo string) {
	return peekString(body, "_msg_id"), peekString(body, "_reply_q")
}

// peekString returns the string value of key in b: the text after
// "key": "  (with the quotes possibly escaped as \") up to the closing quote.
func peekString(b []byte, key string) string {
	for i := 0; i < len(b); {
		j := bytes.Index(b[i:], []byte(key))
		if j < 0 {
			return ""
		}
		start := i + j
		i = start + len(key)
		if !bytes.HasSuffix(b[:start], []byte(`"`)) {
			continue
		}
		rest, ok := cutQuote(b[i:])
		if !ok {
			continue
		}
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest, ok = cutQuote(bytes.TrimLeft(rest[1:], " \t\r\n"))
		if !ok {
			continue
		}
		n := 0
		for n < len(rest) && isIDByte(rest[n]) {
			n++
		}
		if n == 0 {
			continue
		}
		if _, ok := cutQuote(rest[n:]); ok {
			return string(rest[:n])
		}
	}
	return ""
}

// cutQuote removes a leading quote, plain (") or escaped (\").
func cutQuote(b []byte) ([]byte, bool) {
	if rest, ok := bytes.CutPrefix(b, []byte(`\"`)); ok {
		return rest, true
	}
	return bytes.CutPrefix(b, []byte(`"`))
}

func isIDByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '.' || c == ':' || c == '-'
}
