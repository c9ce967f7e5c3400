package rpcclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/serializer"
	"github.com/warrenrpc/warren/transport/memory"
)

// seen is what the "context" method reports of the request context its
// ctx carries.
type seen struct {
	User      string         `json:"user"`
	Project   string         `json:"project"`
	Roles     []string       `json:"roles"`
	RequestID string         `json:"request_id"`
	Extra     map[string]any `json:"extra"`
	Raw       map[string]any `json:"raw"`
}

func contextEndpoint() *endpoints.Endpoint {
	e := endpoints.New()
	endpoints.Register(e, "context", func(ctx context.Context, _ struct{}) (*seen, error) {
		rc := serializer.RequestContextFrom(ctx)
		if rc == nil {
			return nil, nil
		}
		return &seen{User: rc.UserID, Project: rc.ProjectID, Roles: rc.Roles, RequestID: rc.RequestID,
			Extra: rc.Extra, Raw: endpoints.RequestContext(ctx)}, nil
	})
	return e
}

// TestRequestContextOnCtx: a typed request context put on the call's ctx
// reaches the handler typed, laid key by key over the client's
// RequestContext option.
func TestRequestContextOnCtx(t *testing.T) {
	bus := memory.NewBus()
	startServer(t, bus, "ctx", "host-1", contextEndpoint())
	c := newClient(t, bus, "ctx", rpcclient.RequestContext(map[string]any{"user": "from-option", "remote_address": "10.1.1.1"}))

	ctx := serializer.WithRequestContext(withTimeout(t, waitLimit), &serializer.RequestContext{
		UserID: "from-ctx", ProjectID: "p1", Roles: []string{"reader"}, RequestID: "req-1",
	})
	var got seen
	if err := c.Call(ctx, "context", nil, &got); err != nil {
		t.Fatalf("Call = %v", err)
	}
	if got.User != "from-ctx" || got.Project != "p1" || !reflect.DeepEqual(got.Roles, []string{"reader"}) ||
		got.RequestID != "req-1" || got.Extra["remote_address"] != "10.1.1.1" {
		t.Errorf("handler saw %+v; want the ctx's user, project, roles and request id, and the option's remote_address", got)
	}
	if got.Raw["user"] != "from-ctx" || got.Raw["project"] != "p1" {
		t.Errorf("endpoints.RequestContext = %v; want the same entries as a map", got.Raw)
	}

	// Without one on ctx, the option's entries are the request context.
	got = seen{}
	if err := c.Call(withTimeout(t, waitLimit), "context", nil, &got); err != nil {
		t.Fatalf("Call = %v", err)
	}
	if got.User != "from-option" || got.Project != "" {
		t.Errorf("handler saw %+v; want the option's user only", got)
	}
}

// TestMalformedRequestContext: a request context the server's serializer
// cannot read fails the call with an error naming the key, instead of
// reaching the handler.
func TestMalformedRequestContext(t *testing.T) {
	bus := memory.NewBus()
	startServer(t, bus, "ctx", "host-1", contextEndpoint())
	c := newClient(t, bus, "ctx", rpcclient.RequestContext(map[string]any{"user": 42}))
	err := c.Call(withTimeout(t, waitLimit), "context", nil, nil)
	var remote *rpcerr.RemoteError
	if !errors.As(err, &remote) || remote.Message == "" {
		t.Fatalf("Call with user 42 = %v, want a RemoteError", err)
	}
	t.Logf("remote error: %v", remote)
}

type flavor struct {
	Name  string `json:"name"`
	VCPUs int    `json:"vcpus"`
}

type instance struct {
	UUID    string   `json:"uuid"`
	Host    string   `json:"host"`
	Flavor  *flavor  `json:"flavor"`
	Changes []string `json:"nova_object.changes,omitempty"`
}

func novaObjects(t *testing.T, instanceVersion string) *serializer.Objects {
	t.Helper()
	o := serializer.NewObjects("nova_object", "nova")
	if err := serializer.RegisterObject[instance](o, "Instance", instanceVersion); err != nil {
		t.Fatal(err)
	}
	if err := serializer.RegisterObject[flavor](o, "Flavor", "1.0"); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestObjectsEndToEnd: with the versioned-object codec on both sides,
// objects cross as oslo envelopes and typed handlers and callers see Go
// structs; an object newer than the server's registration fails with
// oslo.versionedobjects' exception class.
func TestObjectsEndToEnd(t *testing.T) {
	bus := memory.NewBus()
	e := endpoints.New()
	endpoints.Register(e, "migrate", func(_ context.Context, a struct {
		Instance instance `json:"instance"`
		Host     string   `json:"host"`
	}) (instance, error) {
		inst := a.Instance
		inst.Host = a.Host
		inst.Changes = append(inst.Changes, "host")
		return inst, nil
	})
	startServerWith(t, memory.New(memory.OnBus(bus)), "compute", "c1", []*endpoints.Endpoint{e},
		rpcserver.Serializer(novaObjects(t, "2.1")))

	c := newClient(t, bus, "compute", rpcclient.Serializer(novaObjects(t, "2.1")))
	var got instance
	args := map[string]any{"instance": instance{UUID: "i-1", Host: "a", Flavor: &flavor{Name: "m1", VCPUs: 2}}, "host": "b"}
	if err := c.Call(withTimeout(t, waitLimit), "migrate", args, &got); err != nil {
		t.Fatalf("Call = %v", err)
	}
	want := instance{UUID: "i-1", Host: "b", Flavor: &flavor{Name: "m1", VCPUs: 2}, Changes: []string{"host"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("migrate = %+v (flavor %+v), want %+v", got, got.Flavor, want)
	}

	// A plain JSON client's arguments are read too, and it sees the
	// envelope the server sent.
	var raw map[string]json.RawMessage
	plain := newClient(t, bus, "compute")
	if err := plain.Call(withTimeout(t, waitLimit), "migrate", args, &raw); err != nil {
		t.Fatalf("Call from a JSON client = %v", err)
	}
	if string(raw["nova_object.name"]) != `"Instance"` || string(raw["nova_object.version"]) != `"2.1"` {
		t.Errorf("a JSON client got %s, want an Instance 2.1 envelope", raw)
	}

	newer := newClient(t, bus, "compute", rpcclient.Serializer(novaObjects(t, "2.5")))
	err := newer.Call(withTimeout(t, waitLimit), "migrate", args, &got)
	var remote *rpcerr.RemoteError
	if !errors.As(err, &remote) || remote.Class != "IncompatibleObjectVersion" || remote.Module != "oslo_versionedobjects.exception" {
		t.Errorf("Call with Instance 2.5 = %v, want a RemoteError of class oslo_versionedobjects.exception.IncompatibleObjectVersion", err)
	}
}

// TestRequestContextPassedOn: a handler that calls another server with its
// own ctx passes its caller's request context on, as oslo services pass
// their ctxt along.
func TestRequestContextPassedOn(t *testing.T) {
	bus := memory.NewBus()
	startServer(t, bus, "back", "b1", contextEndpoint())
	back := newClient(t, bus, "back")
	front := endpoints.New()
	endpoints.Register(front, "relay", func(ctx context.Context, _ struct{}) (*seen, error) {
		var got seen
		err := back.Call(ctx, "context", nil, &got)
		return &got, err
	})
	startServer(t, bus, "front", "f1", front)

	ctx := serializer.WithRequestContext(withTimeout(t, waitLimit), &serializer.RequestContext{UserID: "u1", GlobalRequestID: "g1"})
	var got seen
	if err := newClient(t, bus, "front").Call(ctx, "relay", nil, &got); err != nil {
		t.Fatalf("Call(relay) = %v", err)
	}
	if got.User != "u1" || got.Raw["global_request_id"] != "g1" {
		t.Errorf("the second server saw %+v, want user u1 and global request id g1", got)
	}
}
