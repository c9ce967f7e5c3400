package wire

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/warrenrpc/warren/message"
)

// capture is one message recorded from oslo.messaging on the wire.
type capture struct {
	Name       string
	Exchange   string            `json:"exchange"`
	RoutingKey string            `json:"routing_key"`
	Properties map[string]any    `json:"properties"`
	Body       string            `json:"body"`
	Extra      map[string]string `json:"-"`
}

func loadCaptures(t testing.TB) []capture {
	t.Helper()
	files, err := filepath.Glob("testdata/oslo-wire/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in testdata/oslo-wire: %v", err)
	}
	var out []capture
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c capture
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		c.Name = strings.TrimSuffix(filepath.Base(f), ".json")
		out = append(out, c)
	}
	return out
}

func kindOf(c capture) string {
	switch {
	case strings.Contains(c.Name, "notification"):
		return "notification"
	case strings.Contains(c.Name, "reply"):
		return "reply"
	default:
		return "request"
	}
}

// inner returns the decoded oslo.message of an enveloped body.
func inner(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var outer map[string]any
	if err := json.Unmarshal(body, &outer); err != nil {
		t.Fatalf("outer: %v", err)
	}
	if outer["oslo.version"] != "2.0" {
		t.Fatalf("oslo.version = %v, want 2.0", outer["oslo.version"])
	}
	text, ok := outer["oslo.message"].(string)
	if !ok {
		t.Fatalf("oslo.message is %T, want a string", outer["oslo.message"])
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		t.Fatalf("inner: %v", err)
	}
	if f, ok := m["failure"].(string); ok {
		var fm any
		if err := json.Unmarshal([]byte(f), &fm); err != nil {
			t.Fatalf("failure string: %v", err)
		}
		m["failure"] = map[string]any{"<json string>": fm}
	}
	return m
}

// shape reduces a JSON value to its keys, nesting and types.
func shape(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = shape(e)
		}
		return out
	case []any:
		if len(v) == 0 {
			return "array"
		}
		return []any{shape(v[0])}
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return "?"
}

func TestCapturesDecode(t *testing.T) {
	for _, c := range loadCaptures(t) {
		t.Run(c.Name, func(t *testing.T) {
			body := []byte(c.Body)
			var err error
			switch kindOf(c) {
			case "request":
				_, err = DecodeRequest(body)
			case "reply":
				_, err = DecodeReply(body)
			case "notification":
				_, err = DecodeNotification(body)
			}
			if err != nil {
				t.Fatalf("decode %s: %v", c.Name, err)
			}
		})
	}
}

// TestCapturesReencode decodes each capture, encodes the result again and
// checks the two have the same keys, nesting and types.
func TestCapturesReencode(t *testing.T) {
	for _, c := range loadCaptures(t) {
		t.Run(c.Name, func(t *testing.T) {
			body := []byte(c.Body)
			var out []byte
			var err error
			switch kindOf(c) {
			case "request":
				req, derr := DecodeRequest(body)
				if derr != nil {
					t.Fatal(derr)
				}
				out, err = EncodeRequest(req)
			case "reply":
				m, derr := DecodeReply(body)
				if derr != nil {
					t.Fatal(derr)
				}
				if m.IsHeartbeat() {
					out, err = EncodeHeartbeat(m.MsgID)
				} else {
					out, err = EncodeReply(m.MsgID, &message.Reply{Result: m.Result, Failure: m.Failure})
				}
			case "notification":
				n, derr := DecodeNotification(body)
				if derr != nil {
					t.Fatal(derr)
				}
				out, err = EncodeNotification(n)
			}
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			want, got := inner(t, body), inner(t, out)
			if !reflect.DeepEqual(shape(want), shape(got)) {
				t.Errorf("shape differs\ncapture: %v\nwarren:  %v", shape(want), shape(got))
			}
			if kindOf(c) == "request" {
				// Everything but the fresh _unique_id must survive unchanged.
				if !reflect.DeepEqual(want, got) {
					t.Errorf("request changed\ncapture: %v\nwarren:  %v", want, got)
				}
			}
		})
	}
}

func TestDecodeRequestFields(t *testing.T) {
	caps := map[string]capture{}
	for _, c := range loadCaptures(t) {
		caps[c.Name] = c
	}
	req, err := DecodeRequest([]byte(caps["01-call-request"].Body))
	if err != nil {
		t.Fatal(err)
	}
	want := &message.Request{
		Method:   "echo",
		Args:     json.RawMessage(`{"data": {"a": 1}}`),
		MsgID:    "3ad888affe984f8ba586134ccf7b440c",
		ReplyTo:  "reply_8e80331e53d6437d848b49eb4541f29c",
		UniqueID: "893343a079834489b44e71b89900d909",
		Context:  map[string]any{"user": "u1", "request_id": "req-1"},
	}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("DecodeRequest(01) = %+v, want %+v", req, want)
	}

	req, err = DecodeRequest([]byte(caps["11-call-request-monitored"].Body))
	if err != nil {
		t.Fatal(err)
	}
	if req.CallMonitor != 2*time.Second || req.Namespace != "compute" || req.Version != "1.2" {
		t.Errorf("DecodeRequest(11) = monitor %v ns %q v %q, want 2s compute 1.2", req.CallMonitor, req.Namespace, req.Version)
	}

	req, err = DecodeRequest([]byte(caps["03-cast-request"].Body))
	if err != nil {
		t.Fatal(err)
	}
	if req.IsCall() || req.ReplyTo != "" {
		t.Errorf("cast decoded as a call: %+v", req)
	}
}

func TestDecodeReplyFields(t *testing.T) {
	caps := map[string]capture{}
	for _, c := range loadCaptures(t) {
		caps[c.Name] = c
	}
	m, err := DecodeReply([]byte(caps["05-call-reply-failure-valueerror"].Body))
	if err != nil {
		t.Fatal(err)
	}
	if m.Failure == nil || m.Failure.Class != "ValueError" || m.Failure.Module != "builtins" || m.Failure.Message != "bad thing" {
		t.Fatalf("failure = %+v, want ValueError/builtins/bad thing", m.Failure)
	}
	if len(m.Failure.Traceback) != 6 || !reflect.DeepEqual(m.Failure.Args, []any{"bad thing"}) || !m.Ending {
		t.Errorf("failure tb %d args %v ending %v", len(m.Failure.Traceback), m.Failure.Args, m.Ending)
	}

	m, err = DecodeReply([]byte(caps["12-call-reply-heartbeat-1"].Body))
	if err != nil {
		t.Fatal(err)
	}
	if !m.IsHeartbeat() {
		t.Errorf("heartbeat capture not a heartbeat: %+v", m)
	}
	m, err = DecodeReply([]byte(caps["08-call-reply-int"].Body))
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Result) != "5" || m.IsHeartbeat() || !m.Ending {
		t.Errorf("int reply = %+v", m)
	}

	m, err = DecodeReply([]byte(caps["20-call-reply-failure-nosuchmethod"].Body))
	if err != nil {
		t.Fatal(err)
	}
	if m.Failure.Class != "NoSuchMethod" || m.Failure.Module != "oslo_messaging.rpc.dispatcher" ||
		m.Failure.Message != "Endpoint does not support RPC method nosuch" {
		t.Errorf("NoSuchMethod failure = %+v", m.Failure)
	}
}

func TestDecodeNotificationFields(t *testing.T) {
	for _, c := range loadCaptures(t) {
		if c.Name != "22-notification-info" {
			continue
		}
		n, err := DecodeNotification([]byte(c.Body))
		if err != nil {
			t.Fatal(err)
		}
		wantTS := time.Date(2026, 11, 21, 20, 19, 45, 937815000, time.UTC)
		if n.Priority != "INFO" || n.PublisherID != "compute.host1" || n.EventType != "compute.instance.create.end" ||
			!n.Timestamp.Equal(wantTS) || n.MessageID != "7c907073-af55-4574-81ad-cfbd3390b175" ||
			n.Context["request_id"] != "req-3" || string(n.Payload) != `{"id": 42, "name": "vm1"}` {
			t.Errorf("DecodeNotification(22) = %+v", n)
		}
		return
	}
	t.Fatal("capture 22-notification-info missing")
}

func TestFormatTimestamp(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"micros", time.Date(2026, 11, 21, 20, 19, 8, 677381000, time.UTC), "2026-11-21 20:19:08.677381"},
		{"whole second", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02 03:04:05"},
		{"nanos truncated", time.Date(2026, 1, 2, 3, 4, 5, 1999, time.UTC), "2026-01-02 03:04:05.000001"},
		{"converted to UTC", time.Date(2026, 1, 2, 4, 4, 5, 0, time.FixedZone("CET", 3600)), "2026-01-02 03:04:05"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatTimestamp(tt.in); got != tt.want {
				t.Errorf("formatTimestamp(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEncodeRequestCall(t *testing.T) {
	req := &message.Request{
		Method:      "divide",
		Args:        json.RawMessage(`{"num1": 200, "num2": 100}`),
		Namespace:   "calc",
		Version:     "1.1",
		MsgID:       "m1",
		ReplyTo:     "reply_x",
		CallMonitor: 1500 * time.Millisecond,
		UniqueID:    "u1",
		Context:     map[string]any{"user": "u1", "weird\"key<": 1},
	}
	body, err := EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	got := inner(t, body)
	want := map[string]any{
		"method": "divide", "args": map[string]any{"num1": 200.0, "num2": 100.0},
		"namespace": "calc", "version": "1.1", "_msg_id": "m1", "_reply_q": "reply_x",
		"_timeout": 1.5, "_unique_id": "u1", "_context_user": "u1", "_context_weird\"key<": 1.0,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EncodeRequest = %v, want %v", got, want)
	}
	back, err := DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	req.Context["weird\"key<"] = 1.0
	req.Args = back.Args
	if !reflect.DeepEqual(back, req) {
		t.Errorf("round trip = %+v, want %+v", back, req)
	}
}

func TestEncodeRequestCast(t *testing.T) {
	body, err := EncodeRequest(&message.Request{Method: "reset"})
	if err != nil {
		t.Fatal(err)
	}
	got := inner(t, body)
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"_unique_id", "args", "method"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("cast keys = %v, want %v", keys, want)
	}
	if id, _ := got["_unique_id"].(string); len(id) != 32 {
		t.Errorf("_unique_id = %q, want 32 hex digits", id)
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		req  *message.Request
	}{
		{"no method", &message.Request{}},
		{"args array", &message.Request{Method: "m", Args: json.RawMessage(`[1]`)}},
		{"args invalid", &message.Request{Method: "m", Args: json.RawMessage(`{"a":`)}},
		{"context unencodable", &message.Request{Method: "m", Context: map[string]any{"c": make(chan int)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := EncodeRequest(tt.req); err == nil {
				t.Errorf("EncodeRequest(%+v) = nil error, want an error", tt.req)
			}
		})
	}
	if _, err := EncodeReply("m", &message.Reply{Result: json.RawMessage(`{bad`)}); err == nil {
		t.Error("EncodeReply with invalid result JSON = nil error")
	}
}

func TestDecodeErrors(t *testing.T) {
	env := func(inner string) string {
		b, _ := json.Marshal(inner)
		return `{"oslo.version": "2.0", "oslo.message": ` + string(b) + `}`
	}
	tests := []struct {
		name string
		body string
		want error
	}{
		{"not json", `nope`, ErrMalformed},
		{"array body", `[1,2]`, ErrMalformed},
		{"null body", `null`, ErrMalformed},
		{"envelope 2.1", `{"oslo.version": "2.1", "oslo.message": "{}"}`, ErrUnsupportedEnvelope},
		{"envelope 3.0", `{"oslo.version": "3.0", "oslo.message": "{}"}`, ErrUnsupportedEnvelope},
		{"envelope garbage version", `{"oslo.version": "x", "oslo.message": "{}"}`, ErrUnsupportedEnvelope},
		{"envelope version number", `{"oslo.version": 2, "oslo.message": "{}"}`, ErrMalformed},
		{"message not string", `{"oslo.version": "2.0", "oslo.message": {}}`, ErrMalformed},
		{"message not json", env(`{"method": `), ErrMalformed},
		{"no method", env(`{"args": {}}`), ErrMalformed},
		{"method number", env(`{"method": 1}`), ErrMalformed},
		{"args list", env(`{"method": "m", "args": [1]}`), ErrMalformed},
		{"namespace number", env(`{"method": "m", "namespace": 3}`), ErrMalformed},
		{"call without reply queue", env(`{"method": "m", "_msg_id": "x"}`), ErrMalformed},
		{"timeout string", env(`{"method": "m", "_msg_id": "x", "_reply_q": "q", "_timeout": "2"}`), ErrMalformed},
		{"timeout negative", env(`{"method": "m", "_msg_id": "x", "_reply_q": "q", "_timeout": -1}`), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tt.body))
			if !errors.Is(err, tt.want) {
				t.Errorf("DecodeRequest(%q) = %v, want %v", tt.body, err, tt.want)
			}
		})
	}

	replies := []struct {
		name string
		body string
	}{
		{"no msg id", env(`{"result": 1, "failure": null, "ending": true}`)},
		{"ending string", env(`{"result": 1, "failure": null, "ending": "yes", "_msg_id": "m"}`)},
		{"failure garbage string", env(`{"result": null, "failure": "not json", "ending": true, "_msg_id": "m"}`)},
		{"failure without class", env(`{"result": null, "failure": "{\"message\": \"x\"}", "ending": true, "_msg_id": "m"}`)},
		{"failure tb not list", env(`{"result": null, "failure": "{\"class\": \"E\", \"tb\": 3}", "ending": true, "_msg_id": "m"}`)},
	}
	for _, tt := range replies {
		t.Run("reply "+tt.name, func(t *testing.T) {
			if _, err := DecodeReply([]byte(tt.body)); !errors.Is(err, ErrMalformed) {
				t.Errorf("DecodeReply(%q) = %v, want ErrMalformed", tt.body, err)
			}
		})
	}
}

func TestDecodeLenient(t *testing.T) {
	// A bare version 1.0 dictionary is accepted, as oslo does.
	req, err := DecodeRequest([]byte(`{"method": "m", "args": {"a": 1}, "_unique_id": "u"}`))
	if err != nil || req.Method != "m" || string(req.Args) != `{"a": 1}` {
		t.Errorf("bare v1 request = %+v, %v", req, err)
	}
	// Missing args mean none.
	req, err = DecodeRequest([]byte(`{"method": "m"}`))
	if err != nil || string(req.Args) != "{}" {
		t.Errorf("request without args = %+v, %v", req, err)
	}
	// A failure sent as an object instead of a JSON string.
	m, err := DecodeReply([]byte(`{"result": null, "failure": {"class": "E", "module": "x", "message": "boom"}, "ending": true, "_msg_id": "m"}`))
	if err != nil || m.Failure == nil || m.Failure.Message != "boom" {
		t.Errorf("failure object = %+v, %v", m, err)
	}
	// Legacy first half: a result without ending is not a heartbeat.
	m, err = DecodeReply([]byte(`{"result": 7, "failure": null, "_msg_id": "m"}`))
	if err != nil || m.Ending || m.IsHeartbeat() {
		t.Errorf("legacy reply = %+v, %v", m, err)
	}
}

func TestEncodeReplyFailureIsString(t *testing.T) {
	body, err := EncodeReply("m1", &message.Reply{Failure: &message.Failure{Class: "InvalidOperation", Module: "warren", Message: "invalid operation"}})
	if err != nil {
		t.Fatal(err)
	}
	var outer map[string]string
	if err := json.Unmarshal(body, &outer); err != nil {
		t.Fatal(err)
	}
	var in map[string]any
	if err := json.Unmarshal([]byte(outer["oslo.message"]), &in); err != nil {
		t.Fatal(err)
	}
	text, ok := in["failure"].(string)
	if !ok {
		t.Fatalf("failure is %T, want a JSON string", in["failure"])
	}
	var f map[string]any
	if err := json.Unmarshal([]byte(text), &f); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"class": "InvalidOperation", "module": "warren", "message": "invalid operation",
		"tb": []any{}, "args": []any{}, "kwargs": map[string]any{}}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("failure = %v, want %v", f, want)
	}
	if in["ending"] != true || in["result"] != nil || in["_msg_id"] != "m1" {
		t.Errorf("reply = %v", in)
	}
}

func TestNewID(t *testing.T) {
	a, b := NewID(), NewID()
	if len(a) != 32 || strings.Trim(a, "0123456789abcdef") != "" || a == b {
		t.Errorf("NewID() = %q, %q; want two different 32-digit hex ids", a, b)
	}
	for _, id := range []string{a, b} {
		if u, err := uuid.Parse(id); err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 {
			t.Errorf("NewID() = %q, a UUID of version %v, variant %v (%v); want version 4, RFC 4122", id, u.Version(), u.Variant(), err)
		}
	}
}

func TestNamespaceEmptyOrMissing(t *testing.T) {
	tests := []struct {
		name      string
		inner     string
		wantNS    string
		wantEmpty bool
	}{
		{name: "missing", inner: `{"method": "m", "args": {}}`},
		{name: "null", inner: `{"method": "m", "args": {}, "namespace": null}`},
		{name: "empty", inner: `{"method": "m", "args": {}, "namespace": ""}`, wantEmpty: true},
		{name: "named", inner: `{"method": "m", "args": {}, "namespace": "calc"}`, wantNS: "calc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := DecodeRequest(envelope([]byte(tt.inner)))
			if err != nil {
				t.Fatal(err)
			}
			if req.Namespace != tt.wantNS || req.EmptyNamespace != tt.wantEmpty {
				t.Errorf("DecodeRequest(%s) = namespace %q empty %v, want %q %v", tt.inner, req.Namespace, req.EmptyNamespace, tt.wantNS, tt.wantEmpty)
			}
			again, err := EncodeRequest(req)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodeRequest(again)
			if err != nil {
				t.Fatal(err)
			}
			if back.Namespace != req.Namespace || back.EmptyNamespace != req.EmptyNamespace {
				t.Errorf("re-encoding %s: namespace %q empty %v, want %q %v", tt.inner, back.Namespace, back.EmptyNamespace, req.Namespace, req.EmptyNamespace)
			}
		})
	}
}

func TestFailureKeepsBigIntegers(t *testing.T) {
	body, err := EncodeReply("m1", &message.Reply{Failure: &message.Failure{
		Class: "QuotaExceeded", Module: "inv", Message: "over",
		Args: []any{json.Number("9007199254740993")}, Kwargs: map[string]any{"limit": json.Number("18446744073709551615")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := DecodeReply(body)
	if err != nil {
		t.Fatal(err)
	}
	if f := rep.Failure; f == nil || f.Args[0] != json.Number("9007199254740993") || f.Kwargs["limit"] != json.Number("18446744073709551615") {
		t.Errorf("DecodeReply(EncodeReply(big failure)) = %+v, want every digit as json.Number", rep.Failure)
	}
}
