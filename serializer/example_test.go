package serializer_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/warrenrpc/warren/serializer"
)

// A request context on a call's ctx is sent as these _context_* entries,
// and a handler's ctx carries the one its caller sent.
func ExampleWithRequestContext() {
	ctx := serializer.WithRequestContext(context.Background(), &serializer.RequestContext{
		UserID: "u1", ProjectID: "p1", Roles: []string{"reader"}, RequestID: "req-1",
	})
	var s serializer.JSON
	sent, _ := s.SerializeContext(ctx) // what a client does
	b, _ := json.Marshal(sent)
	fmt.Println(string(b))

	received, _ := s.DeserializeContext(context.Background(), sent) // what a server does
	rc := serializer.RequestContextFrom(received)
	fmt.Println(rc.UserID, rc.Roles, rc.GlobalID())
	// Output:
	// {"project":"p1","project_id":"p1","request_id":"req-1","roles":["reader"],"user":"u1","user_identity":"u1 p1 - - -"}
	// u1 [reader] req-1
}

type Flavor struct {
	Name  string `json:"name"`
	VCPUs int    `json:"vcpus"`
}

// Values of registered types travel as oslo.versionedobjects envelopes, and
// envelopes received become plain data a typed handler decodes.
func ExampleObjects() {
	codec := serializer.NewObjects("nova_object", "nova")
	if err := serializer.RegisterObject[Flavor](codec, "Flavor", "1.2"); err != nil {
		panic(err)
	}
	ctx := context.Background()
	out, _ := codec.SerializeEntity(ctx, map[string]any{"flavor": Flavor{Name: "m1.small", VCPUs: 1}})
	fmt.Println(string(out))

	in, _ := codec.DeserializeEntity(ctx, out)
	var args struct {
		Flavor Flavor `json:"flavor"`
	}
	_ = json.Unmarshal(in, &args)
	fmt.Printf("%+v\n", args.Flavor)
	// Output:
	// {"flavor":{"nova_object.data":{"name":"m1.small","vcpus":1},"nova_object.name":"Flavor","nova_object.namespace":"nova","nova_object.version":"1.2"}}
	// {Name:m1.small VCPUs:1}
}
