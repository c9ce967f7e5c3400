package serializer_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/warrenrpc/warren/serializer"
)

// pythonDict is what oslo_context's RequestContext(...).to_dict() sends,
// as a peer's _context_* entries decode.
const pythonDict = `{
	"user": "u-1", "project_id": "p-1", "system_scope": null, "project": "p-1",
	"domain": null, "user_domain": "ud", "project_domain": "pd",
	"is_admin": true, "read_only": false, "show_deleted": true,
	"auth_token": "tok", "request_id": "req-1", "global_request_id": "greq-1",
	"resource_uuid": null, "roles": ["reader", "member"],
	"user_identity": "u-1 p-1 - ud pd", "is_admin_project": true,
	"remote_address": "10.0.0.1", "quota": {"cores": 4}
}`

func decodeDict(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func ptr[T any](v T) *T { return &v }

func TestParseRequestContextFromPython(t *testing.T) {
	rc, err := serializer.ParseRequestContext(decodeDict(t, pythonDict))
	if err != nil {
		t.Fatalf("ParseRequestContext = %v", err)
	}
	want := &serializer.RequestContext{
		UserID: "u-1", ProjectID: "p-1", UserDomainID: "ud", ProjectDomainID: "pd",
		IsAdmin: true, ShowDeleted: true, IsAdminProject: ptr(true),
		AuthToken: "tok", RequestID: "req-1", GlobalRequestID: "greq-1",
		Roles: []string{"reader", "member"},
		Extra: map[string]any{"remote_address": "10.0.0.1", "quota": map[string]any{"cores": 4.0}},
	}
	if !reflect.DeepEqual(rc, want) {
		t.Errorf("ParseRequestContext(python dict) =\n%+v\nwant\n%+v", rc, want)
	}
	if got := rc.GlobalID(); got != "greq-1" {
		t.Errorf("GlobalID() = %q, want greq-1", got)
	}
}

func TestRequestContextMap(t *testing.T) {
	rc := &serializer.RequestContext{
		UserID: "u-1", ProjectID: "p-1", Roles: []string{"admin"}, IsAdmin: true,
		IsAdminProject: ptr(false), UserName: "alice", RequestID: "req-2",
		Extra: map[string]any{"remote_address": "10.0.0.2", "user": "not this one"},
	}
	got := rc.Map()
	want := map[string]any{
		"user": "u-1", "project_id": "p-1", "project": "p-1", "roles": []string{"admin"},
		"is_admin": true, "is_admin_project": false, "user_name": "alice",
		"request_id": "req-2", "remote_address": "10.0.0.2",
		"user_identity": "u-1 p-1 - - -",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Map() =\n%v\nwant\n%v", got, want)
	}
	if rc.Extra["user"] != "not this one" {
		t.Errorf("Map modified Extra: %v", rc.Extra)
	}
	if m := (*serializer.RequestContext)(nil).Map(); m != nil {
		t.Errorf("nil.Map() = %v, want nil", m)
	}
}

// TestRequestContextRoundTrip: what Map sends, ParseRequestContext reads
// back as the same value, once it has crossed JSON.
func TestRequestContextRoundTrip(t *testing.T) {
	rc := &serializer.RequestContext{
		UserID: "u", ProjectID: "p", DomainID: "d", UserDomainID: "ud", ProjectDomainID: "pd",
		SystemScope: "all", UserName: "un", ProjectName: "pn", DomainName: "dn",
		UserDomainName: "udn", ProjectDomainName: "pdn", Roles: []string{"r1", "r2"},
		IsAdmin: true, IsAdminProject: ptr(false), ReadOnly: true, ShowDeleted: true,
		AuthToken: "t", RequestID: "req", GlobalRequestID: "g", ResourceUUID: "res",
		Extra: map[string]any{"remote_address": "a"},
	}
	b, err := json.Marshal(rc.Map())
	if err != nil {
		t.Fatal(err)
	}
	got, err := serializer.ParseRequestContext(decodeDict(t, string(b)))
	if err != nil {
		t.Fatalf("ParseRequestContext(%s) = %v", b, err)
	}
	if !reflect.DeepEqual(got, rc) {
		t.Errorf("round trip through %s =\n%+v\nwant\n%+v", b, got, rc)
	}
}

func TestParseRequestContextMalformed(t *testing.T) {
	for _, tc := range []struct{ name, dict string }{
		{"user-number", `{"user": 5}`},
		{"is-admin-string", `{"is_admin": "True"}`},
		{"roles-string", `{"roles": "admin"}`},
		{"role-number", `{"roles": ["a", 1]}`},
		{"is-admin-project-number", `{"is_admin_project": 1}`},
		{"project-list", `{"project": []}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := serializer.ParseRequestContext(decodeDict(t, tc.dict))
			if !errors.Is(err, serializer.ErrMalformed) {
				t.Errorf("ParseRequestContext(%s) = %+v, %v; want ErrMalformed", tc.dict, rc, err)
			}
		})
	}
}

func TestJSONContext(t *testing.T) {
	ctx := context.Background()
	var s serializer.JSON
	if m, err := s.SerializeContext(ctx); m != nil || err != nil {
		t.Errorf("SerializeContext(no context) = %v, %v; want nil, nil", m, err)
	}
	rc := &serializer.RequestContext{UserID: "u", RequestID: "req"}
	m, err := s.SerializeContext(serializer.WithRequestContext(ctx, rc))
	if err != nil || m["user"] != "u" || m["request_id"] != "req" {
		t.Errorf("SerializeContext = %v, %v", m, err)
	}
	got, err := s.DeserializeContext(ctx, map[string]any{"user": "u2", "roles": []any{"r"}})
	if err != nil {
		t.Fatal(err)
	}
	if rc := serializer.RequestContextFrom(got); rc == nil || rc.UserID != "u2" || len(rc.Roles) != 1 {
		t.Errorf("RequestContextFrom(DeserializeContext) = %+v", rc)
	}
	if got, err := s.DeserializeContext(ctx, nil); err != nil || serializer.RequestContextFrom(got) != nil {
		t.Errorf("DeserializeContext(nil) carries %+v, %v; want none", serializer.RequestContextFrom(got), err)
	}
	if _, err := s.DeserializeContext(ctx, map[string]any{"user": 1.0}); !errors.Is(err, serializer.ErrMalformed) {
		t.Errorf("DeserializeContext(user 1) = %v, want ErrMalformed", err)
	}
}
