package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/warrenrpc/warren/message"
)

// EnvelopeVersion is the oslo.messaging envelope version warren speaks.
const EnvelopeVersion = "2.0"

const (
	versionKey    = "oslo.version"
	messageKey    = "oslo.message"
	contextPrefix = "_context_"
)

// Decoding errors. Match them with errors.Is.
var (
	// ErrMalformed means a body is not a message of the expected shape.
	ErrMalformed = errors.New("wire: malformed message")
	// ErrUnsupportedEnvelope means a body has an envelope version other
	// than 2.0 (oslo accepts 2.0 only: same major, minor at most 0).
	ErrUnsupportedEnvelope = errors.New("wire: unsupported envelope version")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// NewID returns a new random id as oslo.messaging makes them: a version 4
// UUID as 32 hex digits without dashes.
func NewID() string {
	var u uuid.UUID
	rand.Read(u[:])         // never fails; uuid.New reads the same, but allocates
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var buf [32]byte
	for i, b := range u {
		buf[i*2] = hexDigits[b>>4]
		buf[i*2+1] = hexDigits[b&0x0f]
	}
	return string(buf[:])
}

// envelopeHead opens a 2.0 envelope, as oslo.messaging writes it.
const envelopeHead = `{"oslo.version": "2.0", "oslo.message": `

// envelope wraps an inner message in the 2.0 envelope.
func envelope(inner []byte) []byte {
	out := make([]byte, 0, len(envelopeHead)+quotedLen(inner)+1)
	out = append(out, envelopeHead...)
	out = appendString(out, inner)
	return append(out, '}')
}

// unwrap returns the inner message of body: the JSON document held in the
// oslo.message string of a 2.0 envelope, or body itself when it lacks
// either envelope key (a bare version 1.0 message). The result starts as a
// JSON object; decoding it checks the rest. It never shares memory with
// body, so what is decoded from it does not either.
func unwrap(body []byte) ([]byte, error) {
	version, msg, ok := parseEnvelope(body)
	if !ok {
		return unwrapAny(body)
	}
	if version == nil || msg == nil {
		return bytes.Clone(body), nil
	}
	if !envelopeCompatible(string(version)) {
		return nil, fmt.Errorf("%w %q (want %s)", ErrUnsupportedEnvelope, version, EnvelopeVersion)
	}
	if !isObject(msg) {
		return nil, malformed("%s is not a JSON object", messageKey)
	}
	if bytes.IndexByte(msg, '"') < 0 {
		// Perhaps a piece of body: a message without escapes has no keys.
		msg = bytes.Clone(msg)
	}
	return msg, nil
}

// unwrapAny is unwrap for the bodies parseEnvelope leaves to
// encoding/json: bare 1.0 messages, and envelopes with unusual strings.
func unwrapAny(body []byte) ([]byte, error) {
	if !isObject(body) {
		return nil, malformed("body is not a JSON object")
	}
	var env struct {
		Version json.RawMessage `json:"oslo.version"`
		Message json.RawMessage `json:"oslo.message"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, malformed("body is not a JSON object: %v", err)
	}
	if env.Version == nil || env.Message == nil {
		return bytes.Clone(body), nil
	}
	var version string
	if err := json.Unmarshal(env.Version, &version); err != nil {
		return nil, malformed("%s is not a string", versionKey)
	}
	if !envelopeCompatible(version) {
		return nil, fmt.Errorf("%w %q (want %s)", ErrUnsupportedEnvelope, version, EnvelopeVersion)
	}
	var text string
	if err := json.Unmarshal(env.Message, &text); err != nil {
		return nil, malformed("%s is not a string", messageKey)
	}
	inner := []byte(text)
	if !isObject(inner) {
		return nil, malformed("%s is not a JSON object", messageKey)
	}
	return inner, nil
}

// isObject reports whether b starts as a JSON object.
func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// object checks that inner, which starts as a JSON object, is valid JSON,
// and returns a walk over its members.
func object(inner []byte) (members, error) {
	if !valid(inner) {
		var v struct{}
		return members{}, malformed("message is not a JSON object: %v", json.Unmarshal(inner, &v))
	}
	m := newMembers(inner)
	if m.err {
		return members{}, malformed("message is not a JSON object")
	}
	return m, nil
}

// openMessage returns a walk over the members of the inner message of
// body.
func openMessage(body []byte) (members, error) {
	inner, err := unwrap(body)
	if err != nil {
		return members{}, err
	}
	return object(inner)
}

// finish returns err, the error that ended a walk, or the error of a walk
// that did not reach the end of its object, which valid rules out.
func (m *members) finish(err error) error {
	if err == nil && m.err {
		return malformed("message is not a JSON object")
	}
	return err
}

// is reports whether the member key names field: keys match as
// encoding/json matches them to struct fields, without regard to case.
func is(key []byte, field string) bool {
	return len(key) >= len(field) && bytes.EqualFold(key, []byte(field))
}

// decodeString decodes val, the value of member key, into dst as
// encoding/json decodes a string field: null leaves dst alone.
func decodeString(key string, val []byte, dst *string) error {
	if s, _, ok := parseString(val); ok {
		*dst = string(s)
		return nil
	}
	return decodeField(key, val, dst)
}

// decodeBool decodes val, the value of member key, into dst as
// encoding/json decodes a bool field: null leaves dst alone.
func decodeBool(key string, val []byte, dst *bool) error {
	switch string(val) {
	case "true":
		*dst = true
		return nil
	case "false":
		*dst = false
		return nil
	}
	return decodeField(key, val, dst)
}

// decodeField decodes val, the value of member key, into dst with
// encoding/json, reporting a value of the wrong type by its key.
func decodeField(key string, val []byte, dst any) error {
	err := json.Unmarshal(val, dst)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return malformed("%s: %s is not a JSON %s", key, te.Value, te.Type.Kind())
	default:
		return malformed("%s: %v", key, err)
	}
}

// raw returns val, a value in an inner message, as a json.RawMessage of
// its own length, so that appending to it never writes over the message.
func raw(val []byte) json.RawMessage {
	return json.RawMessage(val[:len(val):len(val)])
}

// contextValue decodes the value of the _context_ entry key.
func contextValue(key, val []byte) (any, error) {
	switch val[0] { // val is valid JSON: n is null, t true, f false
	case '"':
		if s, _, ok := parseString(val); ok {
			return string(s), nil
		}
	case 'n':
		return nil, nil
	case 't':
		return true, nil
	case 'f':
		return false, nil
	}
	var v any
	if err := json.Unmarshal(val, &v); err != nil {
		return nil, malformed("context value %s: %v", key, err)
	}
	return v, nil
}

// addContext adds the member key to ctx when it is a _context_ entry,
// making ctx when nil, and reports whether it was one.
func addContext(ctx *map[string]any, key, val []byte) (bool, error) {
	name, ok := bytes.CutPrefix(key, []byte(contextPrefix))
	if !ok {
		return false, nil
	}
	v, err := contextValue(key, val)
	if err != nil {
		return true, err
	}
	if *ctx == nil {
		*ctx = make(map[string]any)
	}
	(*ctx)[string(name)] = v
	return true, nil
}

// envelopeCompatible applies oslo's version_is_compatible("2.0", v).
func envelopeCompatible(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	minor, _, _ = strings.Cut(minor, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	return err1 == nil && err2 == nil && ma == 2 && mi == 0
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// writer builds an inner message as a JSON object, in a pooled buffer.
type writer struct {
	bp    *[]byte
	buf   []byte
	first bool
	err   error
}

// newWriter returns a writer that has opened its object, with room for
// size bytes.
func newWriter(size int) writer {
	bp := bufPool.Get().(*[]byte)
	buf := *bp
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	return writer{bp: bp, buf: append(buf[:0], '{'), first: true}
}

// body closes the object and returns it in an envelope, or the first
// error. The writer is not used again.
func (w *writer) body() ([]byte, error) {
	defer func() {
		if cap(w.buf) <= maxPooled {
			*w.bp = w.buf[:0]
			bufPool.Put(w.bp)
		}
	}()
	if w.err != nil {
		return nil, w.err
	}
	return envelope(append(w.buf, '}')), nil
}

func (w *writer) key(k string) {
	if w.first {
		w.first = false
	} else {
		w.buf = append(w.buf, ", "...)
	}
	w.buf = appendString(w.buf, k)
	w.buf = append(w.buf, ": "...)
}

// prefixedKey writes the key prefix+k, where prefix is printable ASCII
// that JSON holds as it is, without building the string.
func (w *writer) prefixedKey(prefix, k string) {
	if w.first {
		w.first = false
	} else {
		w.buf = append(w.buf, ", "...)
	}
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, prefix...)
	at := len(w.buf)
	w.buf = appendString(w.buf, k)
	w.buf = append(w.buf[:at], w.buf[at+1:]...) // appendString's opening quote
	w.buf = append(w.buf, ": "...)
}

func (w *writer) raw(k string, v []byte) {
	w.key(k)
	w.buf = append(w.buf, v...)
}

func (w *writer) str(k, v string) {
	w.key(k)
	w.buf = appendString(w.buf, v)
}

func (w *writer) value(k string, v any) {
	if w.err != nil {
		return
	}
	if s, ok := v.(string); ok {
		w.str(k, s)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		w.err = fmt.Errorf("wire: encoding %s: %w", k, err)
		return
	}
	w.raw(k, b)
}

// context writes ctx as _context_<key> entries, sorted by key.
func (w *writer) context(ctx map[string]any) {
	keys := make([]string, 0, 32)
	for k := range ctx {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if w.err != nil {
			return
		}
		v := ctx[k]
		var b []byte
		if _, ok := v.(string); !ok {
			var err error
			if b, err = json.Marshal(v); err != nil {
				w.err = fmt.Errorf("wire: encoding %s%s: %w", contextPrefix, k, err)
				return
			}
		}
		w.prefixedKey(contextPrefix, k)
		if s, ok := v.(string); ok {
			w.buf = appendString(w.buf, s)
		} else {
			w.buf = append(w.buf, b...)
		}
	}
}

// EncodeRequest returns the body for req: the 2.0 envelope around method,
// args, namespace and version (when set), _msg_id, _reply_q and _timeout
// (calls only), _unique_id (a new one when req has none) and the context as
// _context_<key> entries. req.Args must be a JSON object or nil.
func EncodeRequest(req *message.Request) ([]byte, error) {
	if req.Method == "" {
		return nil, errors.New("wire: request has no method")
	}
	args := []byte(req.Args)
	if isNull(args) {
		args = []byte("{}")
	} else if trimmed := trimSpace(args); len(trimmed) == 0 || trimmed[0] != '{' || !valid(trimmed) {
		return nil, errors.New("wire: request args must be a JSON object")
	}
	w := newWriter(256 + len(args))
	w.str("method", req.Method)
	w.raw("args", args)
	if req.Namespace != "" || req.EmptyNamespace {
		w.str("namespace", req.Namespace)
	}
	if req.Version != "" {
		w.str("version", req.Version)
	}
	if req.IsCall() {
		w.str("_msg_id", req.MsgID)
		w.str("_reply_q", req.ReplyTo)
		w.key("_timeout")
		if req.CallMonitor > 0 {
			w.buf = appendSeconds(w.buf, req.CallMonitor)
		} else {
			w.buf = append(w.buf, "null"...)
		}
	}
	id := req.UniqueID
	if id == "" {
		id = NewID()
	}
	w.str("_unique_id", id)
	w.context(req.Context)
	return w.body()
}

// appendSeconds appends d in seconds: an integer when whole, as oslo
// sends.
func appendSeconds(dst []byte, d time.Duration) []byte {
	if d%time.Second == 0 {
		return strconv.AppendInt(dst, int64(d/time.Second), 10)
	}
	return strconv.AppendFloat(dst, d.Seconds(), 'f', -1, 64)
}

// DecodeRequest decodes a request body: a 2.0 envelope or a bare 1.0
// dictionary. It fills every Request field except Headers, which are not
// in the body. _timeout becomes CallMonitor; _context_<key> entries become
// Context. Unknown keys are ignored. Known keys are matched as
// encoding/json matches struct fields, so "METHOD" reads as "method",
// which Python would not do; no oslo.messaging peer sends such keys.
func DecodeRequest(body []byte) (*message.Request, error) {
	m, err := openMessage(body)
	if err != nil {
		return nil, err
	}
	req := &message.Request{}
	var (
		namespace *string
		timeout   *float64
	)
	for key, val, ok := m.next(); ok && err == nil; key, val, ok = m.next() {
		var isContext bool
		if isContext, err = addContext(&req.Context, key, val); isContext {
			continue
		}
		switch {
		case is(key, "method"):
			err = decodeString("method", val, &req.Method)
		case is(key, "args"):
			req.Args = raw(val)
		case is(key, "namespace"):
			namespace = nil
			if !isNull(val) {
				namespace = new(string)
				err = decodeString("namespace", val, namespace)
			}
		case is(key, "version"):
			err = decodeString("version", val, &req.Version)
		case is(key, "_msg_id"):
			err = decodeString("_msg_id", val, &req.MsgID)
		case is(key, "_reply_q"):
			err = decodeString("_reply_q", val, &req.ReplyTo)
		case is(key, "_timeout"):
			timeout = nil
			if !isNull(val) {
				timeout = new(float64)
				err = decodeField("_timeout", val, timeout)
			}
		case is(key, "_unique_id"):
			err = decodeString("_unique_id", val, &req.UniqueID)
		}
	}
	if err = m.finish(err); err != nil {
		return nil, err
	}
	if req.Method == "" {
		return nil, malformed("request has no method")
	}
	if namespace != nil { // null, as oslo's None, is no namespace
		req.Namespace = *namespace
		req.EmptyNamespace = *namespace == ""
	}
	if isNull(req.Args) {
		req.Args = json.RawMessage("{}")
	} else if !isObject(req.Args) {
		return nil, malformed("request args is not a JSON object")
	}
	if req.MsgID != "" && req.ReplyTo == "" {
		return nil, malformed("call has _msg_id but no _reply_q")
	}
	if timeout != nil {
		if secs := *timeout; secs < 0 || secs > 1e6 {
			return nil, malformed("_timeout %v is not a number of seconds", secs)
		}
		req.CallMonitor = time.Duration(*timeout * float64(time.Second))
	}
	return req, nil
}

// ReplyMessage is one reply as it travels: a final reply, a part of a
// legacy two-message reply, or a call-monitor heartbeat.
type ReplyMessage struct {
	// Result is the method's return value; nil when null.
	Result json.RawMessage
	// Failure is the remote exception; nil when null.
	Failure *message.Failure
	// Ending is true on the last message of a reply.
	Ending bool
	// MsgID is the _msg_id of the call answered.
	MsgID string
	// UniqueID identifies this message.
	UniqueID string
}

// IsHeartbeat reports whether m is a call-monitor heartbeat: not ending,
// with neither result nor failure.
func (m *ReplyMessage) IsHeartbeat() bool {
	return !m.Ending && m.Failure == nil && isNull(m.Result)
}

// EncodeReply returns the body of the final reply to call msgID, with
// ending true and a new _unique_id. A failure is sent as a JSON string, as
// oslo.messaging peers require.
func EncodeReply(msgID string, r *message.Reply) ([]byte, error) {
	return encodeReply(msgID, r.Result, r.Failure, true)
}

// EncodeHeartbeat returns the body of a call-monitor heartbeat for call
// msgID.
func EncodeHeartbeat(msgID string) ([]byte, error) {
	return encodeReply(msgID, nil, nil, false)
}

func encodeReply(msgID string, result json.RawMessage, failure *message.Failure, ending bool) ([]byte, error) {
	if !isNull(result) && !valid(result) {
		return nil, errors.New("wire: reply result is not valid JSON")
	}
	var text []byte
	if failure != nil {
		f := *failure
		if f.Traceback == nil {
			f.Traceback = []string{}
		}
		if f.Args == nil {
			f.Args = []any{}
		}
		if f.Kwargs == nil {
			f.Kwargs = map[string]any{}
		}
		var err error
		if text, err = json.Marshal(f); err != nil {
			return nil, fmt.Errorf("wire: encoding failure: %w", err)
		}
	}
	w := newWriter(160 + len(result))
	if isNull(result) {
		w.raw("result", []byte("null"))
	} else {
		w.raw("result", result)
	}
	if text == nil {
		w.raw("failure", []byte("null"))
	} else {
		w.key("failure")
		w.buf = appendString(w.buf, text)
	}
	if ending {
		w.raw("ending", []byte("true"))
	} else {
		w.raw("ending", []byte("false"))
	}
	w.str("_msg_id", msgID)
	w.str("_unique_id", NewID())
	return w.body()
}

// DecodeReply decodes a reply body. failure may be a JSON string (as oslo
// sends it) or, leniently, an object; a missing ending means false, as in
// legacy replies.
func DecodeReply(body []byte) (*ReplyMessage, error) {
	m, err := openMessage(body)
	if err != nil {
		return nil, err
	}
	r := &ReplyMessage{}
	var failure []byte
	for key, val, ok := m.next(); ok && err == nil; key, val, ok = m.next() {
		switch {
		case is(key, "result"):
			r.Result = raw(val)
		case is(key, "failure"):
			failure = val
		case is(key, "ending"):
			err = decodeBool("ending", val, &r.Ending)
		case is(key, "_msg_id"):
			err = decodeString("_msg_id", val, &r.MsgID)
		case is(key, "_unique_id"):
			err = decodeString("_unique_id", val, &r.UniqueID)
		}
	}
	if err = m.finish(err); err != nil {
		return nil, err
	}
	if r.MsgID == "" {
		return nil, malformed("reply has no _msg_id")
	}
	if isNull(r.Result) {
		r.Result = nil
	}
	if !isNull(failure) {
		if r.Failure, err = decodeFailure(failure); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func decodeFailure(raw json.RawMessage) (*message.Failure, error) {
	doc := []byte(raw)
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '"' {
		var text string
		if err := json.Unmarshal(trimmed, &text); err != nil {
			return nil, malformed("reply failure: %v", err)
		}
		doc = []byte(text)
	}
	// Decode loosely first: Python may put any value in args and kwargs.
	var f struct {
		Class     json.RawMessage `json:"class"`
		Module    json.RawMessage `json:"module"`
		Message   json.RawMessage `json:"message"`
		Traceback json.RawMessage `json:"tb"`
		Args      json.RawMessage `json:"args"`
		Kwargs    json.RawMessage `json:"kwargs"`
	}
	if err := json.Unmarshal(doc, &f); err != nil {
		return nil, malformed("reply failure is not a JSON object: %v", err)
	}
	out := &message.Failure{}
	fields := []struct {
		raw json.RawMessage
		dst any
		key string
	}{
		{f.Class, &out.Class, "class"},
		{f.Module, &out.Module, "module"},
		{f.Message, &out.Message, "message"},
		{f.Traceback, &out.Traceback, "tb"},
		{f.Args, &out.Args, "args"},
		{f.Kwargs, &out.Kwargs, "kwargs"},
	}
	for _, fd := range fields {
		if isNull(fd.raw) {
			continue
		}
		// Numbers in args and kwargs stay json.Number: a Python int
		// beyond 2^53 keeps every digit.
		dec := json.NewDecoder(bytes.NewReader(fd.raw))
		dec.UseNumber()
		if err := dec.Decode(fd.dst); err != nil {
			return nil, malformed("reply failure %s: %v", fd.key, err)
		}
	}
	if out.Class == "" {
		return nil, malformed("reply failure has no class")
	}
	return out, nil
}
