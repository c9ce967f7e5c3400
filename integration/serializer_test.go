package integration_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/serializer"
)

// ovoFlavor and ovoInstance are the Go side of the peer's nova-style
// objects Flavor 1.2 and Instance 2.1.
type ovoFlavor struct {
	Name  string `json:"name"`
	VCPUs int    `json:"vcpus"`
}

type ovoInstance struct {
	UUID    string     `json:"uuid"`
	Host    string     `json:"host"`
	Flavor  *ovoFlavor `json:"flavor"`
	Changes []string   `json:"nova_object.changes,omitempty"`
	Version string     `json:"nova_object.version,omitempty"`
}

func novaObjects(t *testing.T) *serializer.Objects {
	t.Helper()
	o := serializer.NewObjects("nova_object", "nova")
	if err := serializer.RegisterObject[ovoInstance](o, "Instance", "2.1"); err != nil {
		t.Fatal(err)
	}
	if err := serializer.RegisterObject[ovoFlavor](o, "Flavor", "1.2"); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestSerializerWithPython has a Python peer (testdata/oslo_serializer_peer.py)
// that passes oslo_context.RequestContext objects through a request-context
// serializer (to_dict out, from_dict in, as OpenStack services do) and
// oslo.versionedobjects objects through VersionedObjectSerializer call a Go
// server, and a Go client call the peer. Both ways, a typed request context
// and nova-style objects arrive with the values the other side sent.
func TestSerializerWithPython(t *testing.T) {
	b := newBus(t, "pyser")
	seenContext := make(chan *serializer.RequestContext, 1)
	seenInstance := make(chan ovoInstance, 1)
	e := endpoints.New()
	endpoints.Register(e, "context", func(ctx context.Context, _ struct{}) (string, error) {
		rc := serializer.RequestContextFrom(ctx)
		select {
		case seenContext <- rc:
		default: // only the first call is checked
		}
		if rc == nil {
			return "", nil
		}
		return rc.UserID, nil
	})
	endpoints.Register(e, "resize", func(_ context.Context, a struct {
		Instance ovoInstance `json:"instance"`
		VCPUs    int         `json:"vcpus"`
	}) (ovoInstance, error) {
		select {
		case seenInstance <- a.Instance:
		default: // only the first call is checked
		}
		inst := a.Instance
		flavor := *inst.Flavor // the test reads the one received
		flavor.VCPUs = a.VCPUs
		inst.Flavor = &flavor
		inst.Changes = []string{"flavor"}
		return inst, nil
	})
	startServer(t, b, "go1", []*endpoints.Endpoint{e}, rpcserver.Serializer(novaObjects(t)))
	b.forgetServer("py1")
	py := startPeer(t, "oslo_serializer_peer.py", osloURL(t), b.Exchange, b.Topic, "py1", "go1")
	py.waitReady(t)

	pythonCase := func(t *testing.T, name string) json.RawMessage {
		t.Helper()
		line := py.waitLine(t, "case "+name, 45*time.Second, func(l string) bool {
			return strings.Contains(l, `"case": "`+name+`"`)
		})
		var c pyCase
		if err := json.Unmarshal([]byte(line), &c); err != nil || !c.OK {
			t.Fatalf("the peer's call reported %s", line)
		}
		return c.Result
	}

	t.Run("python caller, go handler: request context", func(t *testing.T) {
		if got := pythonCase(t, "go_context"); string(got) != `"py-user"` {
			t.Errorf("context returned %s to Python, want \"py-user\"", got)
		}
		rc := receive(t, seenContext)
		want := &serializer.RequestContext{
			UserID: "py-user", ProjectID: "py-project", DomainID: "py-domain",
			UserDomainID: "py-user-domain", ProjectDomainID: "py-project-domain",
			Roles: []string{"reader", "member"}, IsAdmin: true, IsAdminProject: new(bool),
			ReadOnly: true, AuthToken: "py-token", RequestID: "req-py-1",
			GlobalRequestID: "req-global-1", ResourceUUID: "res-1",
		}
		// RequestContext.to_dict does not send the names (user_name and
		// so on), so from Python they stay empty.
		if !reflect.DeepEqual(rc, want) {
			t.Errorf("the Go handler saw\n%+v\nwant\n%+v", rc, want)
		}
	})

	t.Run("python caller, go handler: objects", func(t *testing.T) {
		got := pythonCase(t, "go_resize")
		inst := receive(t, seenInstance)
		slices.Sort(inst.Changes)
		want := ovoInstance{UUID: "i-py", Host: "py-host", Flavor: &ovoFlavor{Name: "m1.small", VCPUs: 1},
			Changes: []string{"flavor", "host", "uuid"}, Version: "2.1"}
		if !reflect.DeepEqual(inst, want) {
			t.Errorf("the Go handler got %+v (flavor %+v), want %+v", inst, inst.Flavor, want)
		}
		if !jsonEqual(t, got, `{"class": "Instance", "version": "2.1", "uuid": "i-py", "host": "py-host",
			"flavor_class": "Flavor", "flavor_name": "m1.small", "vcpus": 4, "changes": ["flavor"]}`) {
			t.Errorf("Python got back %s", got)
		}
	})

	client := newClient(t, b, rpcclient.Server("py1"), rpcclient.Serializer(novaObjects(t)))

	t.Run("go caller, python handler: request context", func(t *testing.T) {
		isAdminProject := false
		ctx := serializer.WithRequestContext(withTimeout(t, 30*time.Second), &serializer.RequestContext{
			UserID: "go-user", ProjectID: "go-project", DomainID: "go-domain",
			UserDomainID: "go-user-domain", ProjectDomainID: "go-project-domain",
			UserName: "bob", ProjectName: "blue", Roles: []string{"admin"},
			IsAdmin: true, IsAdminProject: &isAdminProject, ShowDeleted: true,
			AuthToken: "go-token", RequestID: "req-go-1", GlobalRequestID: "req-global-go",
			ResourceUUID: "res-go", SystemScope: "all",
		})
		var got map[string]any
		if err := client.Call(ctx, "describe", nil, &got); err != nil {
			t.Fatalf("Call(describe) = %v", err)
		}
		want := map[string]any{
			"class":   "oslo_context.context.RequestContext",
			"user_id": "go-user", "project_id": "go-project", "domain_id": "go-domain",
			"user_domain_id": "go-user-domain", "project_domain_id": "go-project-domain",
			"user_name": "bob", "project_name": "blue", "roles": []any{"admin"},
			"is_admin": true, "is_admin_project": false, "read_only": false, "show_deleted": true,
			"auth_token": "go-token", "request_id": "req-go-1", "global_request_id": "req-global-go",
			"global_id": "req-global-go", "resource_uuid": "res-go", "system_scope": "all",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Python's RequestContext holds\n%v\nwant\n%v", got, want)
		}
	})

	t.Run("go caller, python handler: objects", func(t *testing.T) {
		ctx := withTimeout(t, 30*time.Second)
		inst := ovoInstance{UUID: "i-go", Host: "go-host", Flavor: &ovoFlavor{Name: "m1.tiny", VCPUs: 2}, Changes: []string{"host"}}
		var seen json.RawMessage
		if err := client.Call(ctx, "inspect", map[string]any{"instance": inst}, &seen); err != nil {
			t.Fatalf("Call(inspect) = %v", err)
		}
		if !jsonEqual(t, seen, `{"class": "Instance", "version": "2.1", "uuid": "i-go", "host": "go-host",
			"flavor_class": "Flavor", "flavor_name": "m1.tiny", "vcpus": 2, "changes": ["host"]}`) {
			t.Errorf("Python received %s", seen)
		}
		var got ovoInstance
		if err := client.Call(ctx, "rename", map[string]any{"instance": inst, "host": "new-host"}, &got); err != nil {
			t.Fatalf("Call(rename) = %v", err)
		}
		want := ovoInstance{UUID: "i-go", Host: "new-host", Flavor: &ovoFlavor{Name: "m1.tiny", VCPUs: 2},
			Changes: []string{"host"}, Version: "2.1"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("rename returned %+v (flavor %+v), want %+v", got, got.Flavor, want)
		}
	})
}

// receive returns what a handler sent on ch, failing t when nothing comes.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatal("the Go handler did not run")
		var zero T
		return zero
	}
}
