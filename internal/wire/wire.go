package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
	var buf [32]byte
	u := uuid.New()
	const hexdigits = "0123456789abcdef"
	for i, b := range u {
		buf[i*2] = hexdigits[b>>4]
		buf[i*2+1] = hexdigits[b&0x0f]
	}
	return string(buf[:])
}

// envelope wraps an inner message in the 2.0 envelope.
func envelope(inner []byte) ([]byte, error) {
	quoted, err := json.Marshal(string(inner))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(quoted)+48)
	out = append(out, `{"oslo.version": "2.0", "oslo.message": `...)
	out = append(out, quoted...)
	out = append(out, '}')
	return out, nil
}

// unwrap returns the inner message of body: the JSON document held in the
// oslo.message string of a 2.0 envelope, or body itself when it lacks
// either envelope key (a bare version 1.0 message). The result starts as a
// JSON object; decoding it checks the rest.
func unwrap(body []byte) ([]byte, error) {
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
		return body, nil
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

// decodeInto decodes the inner message into the struct dst, reporting a
// value of the wrong type by its key.
func decodeInto(inner []byte, dst any) error {
	err := json.Unmarshal(inner, dst)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return malformed("%s: %s is not a JSON %s", te.Field, te.Value, te.Type.Kind())
	default:
		return malformed("message is not a JSON object: %v", err)
	}
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

type writer struct {
	buf   []byte
	first bool
	err   error
}

func (w *writer) key(k string) {
	if w.first {
		w.first = false
	} else {
		w.buf = append(w.buf, ", "...)
	}
	w.buf = appendJSONKey(w.buf, k)
	w.buf = append(w.buf, ": "...)
}

// appendJSONKey appends k as a JSON string: directly when it is plain
// printable ASCII, through encoding/json otherwise.
func appendJSONKey(buf []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(k) // a string always marshals
			return append(buf, quoted...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, k...)
	return append(buf, '"')
}

func (w *writer) raw(k string, v []byte) {
	w.key(k)
	w.buf = append(w.buf, v...)
}

func (w *writer) value(k string, v any) {
	if w.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		w.err = fmt.Errorf("wire: encoding %s: %w", k, err)
		return
	}
	w.raw(k, b)
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
	} else if trimmed := bytes.TrimSpace(args); len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		return nil, errors.New("wire: request args must be a JSON object")
	}
	w := writer{buf: make([]byte, 0, 256+len(args)), first: true}
	w.buf = append(w.buf, '{')
	w.value("method", req.Method)
	w.raw("args", args)
	if req.Namespace != "" || req.EmptyNamespace {
		w.value("namespace", req.Namespace)
	}
	if req.Version != "" {
		w.value("version", req.Version)
	}
	if req.IsCall() {
		w.value("_msg_id", req.MsgID)
		w.value("_reply_q", req.ReplyTo)
		if req.CallMonitor > 0 {
			w.raw("_timeout", formatSeconds(req.CallMonitor))
		} else {
			w.raw("_timeout", []byte("null"))
		}
	}
	id := req.UniqueID
	if id == "" {
		id = NewID()
	}
	w.value("_unique_id", id)
	for _, k := range slices.Sorted(maps.Keys(req.Context)) {
		w.value(contextPrefix+k, req.Context[k])
	}
	if w.err != nil {
		return nil, w.err
	}
	w.buf = append(w.buf, '}')
	return envelope(w.buf)
}

// formatSeconds writes d in seconds: an integer when whole, as oslo sends.
func formatSeconds(d time.Duration) []byte {
	if d%time.Second == 0 {
		return strconv.AppendInt(nil, int64(d/time.Second), 10)
	}
	return strconv.AppendFloat(nil, d.Seconds(), 'f', -1, 64)
}

// DecodeRequest decodes a request body: a 2.0 envelope or a bare 1.0
// dictionary. It fills every Request field except Headers, which are not
// in the body. _timeout becomes CallMonitor; _context_<key> entries become
// Context. Unknown keys are ignored. Known keys are matched as
// encoding/json matches struct fields, so "METHOD" reads as "method",
// which Python would not do; no oslo.messaging peer sends such keys.
func DecodeRequest(body []byte) (*message.Request, error) {
	inner, err := unwrap(body)
	if err != nil {
		return nil, err
	}
	var f struct {
		Method    string          `json:"method"`
		Args      json.RawMessage `json:"args"`
		Namespace *string         `json:"namespace"`
		Version   string          `json:"version"`
		MsgID     string          `json:"_msg_id"`
		ReplyTo   string          `json:"_reply_q"`
		Timeout   *float64        `json:"_timeout"`
		UniqueID  string          `json:"_unique_id"`
	}
	if err := decodeInto(inner, &f); err != nil {
		return nil, err
	}
	if f.Method == "" {
		return nil, malformed("request has no method")
	}
	req := &message.Request{
		Method:   f.Method,
		Args:     f.Args,
		Version:  f.Version,
		MsgID:    f.MsgID,
		ReplyTo:  f.ReplyTo,
		UniqueID: f.UniqueID,
	}
	if f.Namespace != nil { // null, as oslo's None, is no namespace
		req.Namespace = *f.Namespace
		req.EmptyNamespace = *f.Namespace == ""
	}
	if isNull(req.Args) {
		req.Args = json.RawMessage("{}")
	} else if !isObject(req.Args) {
		return nil, malformed("request args is not a JSON object")
	}
	if req.MsgID != "" && req.ReplyTo == "" {
		return nil, malformed("call has _msg_id but no _reply_q")
	}
	if f.Timeout != nil {
		if secs := *f.Timeout; secs < 0 || secs > 1e6 {
			return nil, malformed("_timeout %v is not a number of seconds", secs)
		}
		req.CallMonitor = time.Duration(*f.Timeout * float64(time.Second))
	}
	if bytes.Contains(inner, []byte(`"`+contextPrefix)) {
		m, err := decodeMap(inner)
		if err != nil {
			return nil, err
		}
		if req.Context, err = decodeContext(m); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// decodeMap decodes the inner message into a map of raw values.
func decodeMap(inner []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(inner, &m); err != nil {
		return nil, malformed("message is not a JSON object: %v", err)
	}
	return m, nil
}

// decodeContext collects the _context_<key> entries of m, or nil when
// there are none.
func decodeContext(m map[string]json.RawMessage) (map[string]any, error) {
	var ctx map[string]any
	for k, raw := range m {
		name, ok := strings.CutPrefix(k, contextPrefix)
		if !ok {
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, malformed("context value %s: %v", k, err)
		}
		if ctx == nil {
			ctx = make(map[string]any)
		}
		ctx[name] = v
	}
	return ctx, nil
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
	w := writer{buf: make([]byte, 0, 160+len(result)), first: true}
	w.buf = append(w.buf, '{')
	if isNull(result) {
		w.raw("result", []byte("null"))
	} else if !json.Valid(result) {
		return nil, errors.New("wire: reply result is not valid JSON")
	} else {
		w.raw("result", result)
	}
	if failure == nil {
		w.raw("failure", []byte("null"))
	} else {
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
		text, err := json.Marshal(f)
		if err != nil {
			return nil, fmt.Errorf("wire: encoding failure: %w", err)
		}
		w.value("failure", string(text))
	}
	w.raw("ending", strconv.AppendBool(nil, ending))
	w.value("_msg_id", msgID)
	w.value("_unique_id", NewID())
	if w.err != nil {
		return nil, w.err
	}
	w.buf = append(w.buf, '}')
	return envelope(w.buf)
}

// DecodeReply decodes a reply body. failure may be a JSON string (as oslo
// sends it) or, leniently, an object; a missing ending means false, as in
// legacy replies.
func DecodeReply(body []byte) (*ReplyMessage, error) {
	inner, err := unwrap(body)
	if err != nil {
		return nil, err
	}
	var f struct {
		Result   json.RawMessage `json:"result"`
		Failure  json.RawMessage `json:"failure"`
		Ending   bool            `json:"ending"`
		MsgID    string          `json:"_msg_id"`
		UniqueID string          `json:"_unique_id"`
	}
	if err := decodeInto(inner, &f); err != nil {
		return nil, err
	}
	if f.MsgID == "" {
		return nil, malformed("reply has no _msg_id")
	}
	r := &ReplyMessage{Ending: f.Ending, MsgID: f.MsgID, UniqueID: f.UniqueID}
	if !isNull(f.Result) {
		r.Result = f.Result
	}
	if !isNull(f.Failure) {
		if r.Failure, err = decodeFailure(f.Failure); err != nil {
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
