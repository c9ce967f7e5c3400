package integration_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/serializer"
)

// TestRequestContextWithPython has a Python peer that passes
// oslo_context.RequestContext objects through a request-context
// serializer (to_dict out, from_dict in, as OpenStack services do) call a
// Go server, and a Go client call the peer: a Go handler sees the Python
// caller's values in a typed *serializer.RequestContext, and a Go caller's
// typed context arrives in Python as a RequestContext with the same values.
func TestRequestContextWithPython(t *testing.T) {
	b := newBus(t, "pyctx")
	seen := make(chan *serializer.RequestContext, 1)
	e := endpoints.New()
	endpoints.Register(e, "context", func(ctx context.Context, _ struct{}) (string, error) {
		rc := serializer.RequestContextFrom(ctx)
		select {
		case seen <- rc:
		default:
		}
		if rc == nil {
			return "", nil
		}
		return rc.UserID, nil
	})
	startServer(t, b, "go1", []*endpoints.Endpoint{e})
	b.forgetServer("py1")
	py := startPeer(t, "oslo_context_peer.py", osloURL(t), b.Exchange, b.Topic, "py1", "go1")
	py.waitReady(t)

	t.Run("python caller, go handler", func(t *testing.T) {
		line := py.waitLine(t, "the go_context case", 45*time.Second, func(l string) bool {
			return strings.Contains(l, `"go_context"`)
		})
		var c pyCase
		if err := json.Unmarshal([]byte(line), &c); err != nil || !c.OK || string(c.Result) != `"py-user"` {
			t.Fatalf("the Python call of context reported %s", line)
		}
		var rc *serializer.RequestContext
		select {
		case rc = <-seen:
		case <-time.After(waitLimit):
			t.Fatal("the Go handler did not run")
		}
		if rc == nil {
			t.Fatal("the Go handler got no request context")
		}
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

	t.Run("go caller, python handler", func(t *testing.T) {
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
		client := newClient(t, b, rpcclient.Server("py1"))
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
}
