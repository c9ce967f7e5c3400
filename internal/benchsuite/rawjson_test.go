package benchsuite

import (
	"encoding/json"
	"testing"

	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
)

// TestRawJSONMessages checks that the JSON baseline does an oslo.messaging
// peer's work: its requests and replies are oslo.messaging 2.0 messages
// that warren's codec reads, and it reads the messages warren writes.
func TestRawJSONMessages(t *testing.T) {
	args, err := json.Marshal(echoArgs{Data: "a \"quoted\" é"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := wrap(osloRequest{Method: echoMethod, Args: args, MsgID: "m1", ReplyQ: "reply_q", UniqueID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	req, err := wire.DecodeRequest(body)
	if err != nil {
		t.Fatalf("wire.DecodeRequest(%s) = %v", body, err)
	}
	if req.Method != echoMethod || string(req.Args) != string(args) || req.MsgID != "m1" || req.ReplyTo != "reply_q" || req.UniqueID != "u1" {
		t.Errorf("warren read the baseline's request as %+v", req)
	}

	body, err = wrap(osloReply{Result: args, Ending: true, MsgID: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := wire.DecodeReply(body)
	if err != nil {
		t.Fatalf("wire.DecodeReply(%s) = %v", body, err)
	}
	if string(rep.Result) != string(args) || rep.Failure != nil || !rep.Ending || rep.MsgID != "m1" {
		t.Errorf("warren read the baseline's reply as %+v", rep)
	}

	body, err = wire.EncodeReply("m2", &message.Reply{Result: args})
	if err != nil {
		t.Fatal(err)
	}
	var got osloReply
	if err := unwrap(body, &got); err != nil {
		t.Fatalf("unwrap(%s) = %v", body, err)
	}
	var out echoArgs
	if err := json.Unmarshal(got.Result, &out); err != nil || out.Data != "a \"quoted\" é" || got.MsgID != "m2" || !got.Ending {
		t.Errorf("the baseline read warren's reply as %+v (result %q, %v)", got, out.Data, err)
	}
	if err := unwrap([]byte(`{"oslo.version": "1.0", "oslo.message": "{}"}`), &got); err == nil {
		t.Error("unwrap took an envelope of oslo.version 1.0")
	}
}
