package wire

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/warrenrpc/warren/message"
)

// encodedBytes are bodies as the encoders wrote them when they still went
// through json.Marshal for every string: the codec's own quoting must keep
// every byte (HTML characters, U+2028, invalid UTF-8, nested values).
var encodedBytes = []string{
	"{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"method\\\": \\\"m\\\", \\\"args\\\": {\\\"a\\\": \\\"\\u003cb\\u003e\\u0026\\\\u2028 é \\\\\\\"q\\\\\\\" \\\\\\\\ \\\\n\\\"}, \\\"_unique_id\\\": \\\"u1\\\"}\"}",
	"{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"method\\\": \\\"méthod\\\\u003c\\\\u003e\\\", \\\"args\\\":  {\\\"x\\\":[1,2,{\\\"y\\\":null}]} , \\\"namespace\\\": \\\"ns\\\", \\\"version\\\": \\\"1.2\\\", \\\"_msg_id\\\": \\\"id\\\", \\\"_reply_q\\\": \\\"rq\\\", \\\"_timeout\\\": 2.5, \\\"_unique_id\\\": \\\"u2\\\", \\\"_context_b\\\": true, \\\"_context_inv\\\\ufffd\\\": \\\"x\\\\ufffdy\\\", \\\"_context_n\\\": 1.5, \\\"_context_nil\\\": null, \\\"_context_roles\\\": [\\\"a\\\",\\\"b\\\"], \\\"_context_user\\\": \\\"u\\\\u003c\\\\u0026\\\\u003e\\\", \\\"_context_z\\\\u2029\\\": {\\\"k\\\":\\\"v\\\"}}\"}",
	"{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"method\\\": \\\"m\\\", \\\"args\\\": {}, \\\"namespace\\\": \\\"\\\", \\\"_msg_id\\\": \\\"id\\\", \\\"_reply_q\\\": \\\"rq\\\", \\\"_timeout\\\": null, \\\"_unique_id\\\": \\\"u3\\\"}\"}",
	"{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"method\\\": \\\"m\\\", \\\"args\\\": {}, \\\"_msg_id\\\": \\\"id\\\", \\\"_reply_q\\\": \\\"rq\\\", \\\"_timeout\\\": 30, \\\"_unique_id\\\": \\\"u4\\\"}\"}",
	"{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"message_id\\\": \\\"mid\\\", \\\"publisher_id\\\": \\\"p\\\\u003c\\\\u003e\\\", \\\"event_type\\\": \\\"e.t\\\", \\\"priority\\\": \\\"INFO\\\", \\\"payload\\\": {\\\"a\\\":\\\"\\u0026\\\"}, \\\"timestamp\\\": \\\"2020-01-02 03:04:05.000006\\\", \\\"_unique_id\\\": \\\"u\\\", \\\"_context_user\\\": \\\"x\\\"}\"}",
	"{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"result\\\": {\\\"r\\\": \\\"\\u003c\\u0026\\u003e\\\"}, \\\"failure\\\": null, \\\"ending\\\": true, \\\"_msg_id\\\": \\\"mi",
	"{\"oslo.version\": \"2.0\", \"oslo.message\": \"{\\\"result\\\": null, \\\"failure\\\": \\\"{\\\\\\\"class\\\\\\\":\\\\\\\"E\\\\\\\\u003c\\\\\\\",\\\\\\\"module\\\\\\\":\\\\\\\"m\\\\\\\",\\\\\\\"message\\\\\\\":\\\\\\\"bad \\\\\\\\\\\\\\\"thing\\\\\\\\\\\\\\\"\\\\\\\\n\\\\\\\",\\\\\\\"tb\\\\\\\":[],\\\\\\\"args\\\\\\\":[1,\\\\\\\"x\\\\\\\"],\\\\\\\"kwargs\\\\\\\":{}}\\\", \\\"ending\\\": true, \\\"_msg_id\\\": \\\"mi",
}

// TestEncodeBytes checks the encoders byte for byte against encodedBytes;
// a reply's fresh _unique_id is left out.
func TestEncodeBytes(t *testing.T) {
	var got []string
	reqs := []*message.Request{
		{Method: "m", Args: json.RawMessage(`{"a": "<b>&\u2028 é \"q\" \\ \n"}`), UniqueID: "u1"},
		{Method: "méthod<>", Args: json.RawMessage(` {"x":[1,2,{"y":null}]} `), Namespace: "ns", Version: "1.2", MsgID: "id", ReplyTo: "rq", CallMonitor: 2500 * time.Millisecond, UniqueID: "u2",
			Context: map[string]any{"user": "u<&>", "roles": []any{"a", "b"}, "n": 1.5, "b": true, "nil": nil, "z\u2029": map[string]any{"k": "v"}, "inv\xff": "x\xffy"}},
		{Method: "m", EmptyNamespace: true, MsgID: "id", ReplyTo: "rq", UniqueID: "u3"},
		{Method: "m", MsgID: "id", ReplyTo: "rq", CallMonitor: 30 * time.Second, UniqueID: "u4"},
	}
	for _, r := range reqs {
		b, err := EncodeRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	b, err := EncodeNotification(&message.Notification{MessageID: "mid", PublisherID: "p<>", EventType: "e.t", Priority: "info",
		Payload: json.RawMessage(`{"a":"&"}`), Timestamp: time.Date(2020, 1, 2, 3, 4, 5, 6000, time.UTC), Context: map[string]any{"user": "x"}, UniqueID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, string(b))
	for _, r := range []*message.Reply{
		{Result: json.RawMessage(`{"r": "<&>"}`)},
		{Failure: &message.Failure{Class: "E<", Module: "m", Message: "bad \"thing\"\n", Args: []any{1, "x"}}},
	} {
		b, err := EncodeReply("mid", r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b[:len(b)-60]))
	}
	for i := range encodedBytes {
		if got[i] != encodedBytes[i] {
			t.Errorf("body %d = %q, want %q", i, got[i], encodedBytes[i])
		}
	}
}
