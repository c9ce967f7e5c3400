package serializer

import (
	"context"
	"fmt"
	"maps"
)

// RequestContext is who asks and on whose behalf, as
// oslo_context.RequestContext carries it between OpenStack services: the
// fields of its to_dict and from_dict. It travels as the _context_<key>
// entries of a request or notification; Map and ParseRequestContext are the
// one place that maps fields to keys.
//
// A caller puts one on the ctx of a call or cast with WithRequestContext; a
// handler reads the caller's with RequestContextFrom. A handler that calls
// another service with its own ctx passes the caller's context on, as
// oslo.messaging services pass their ctxt along.
//
// Zero fields are not sent, so a Python peer's RequestContext.from_dict
// applies its own defaults to them (False, None, and True for
// is_admin_project).
type RequestContext struct {
	// UserID is the user's id ("user").
	UserID string
	// ProjectID is the project's id ("project_id", and "project" as older
	// peers read it).
	ProjectID string
	// DomainID is the domain's id ("domain").
	DomainID string
	// UserDomainID is the user's domain id ("user_domain").
	UserDomainID string
	// ProjectDomainID is the project's domain id ("project_domain").
	ProjectDomainID string
	// SystemScope is the system scope of a system-scoped token, such as
	// "all" ("system_scope").
	SystemScope string
	// UserName is the user's name ("user_name").
	UserName string
	// ProjectName is the project's name ("project_name").
	ProjectName string
	// DomainName is the domain's name ("domain_name").
	DomainName string
	// UserDomainName is the user's domain name ("user_domain_name").
	UserDomainName string
	// ProjectDomainName is the project's domain name
	// ("project_domain_name").
	ProjectDomainName string
	// Roles are the user's role names ("roles").
	Roles []string
	// IsAdmin says the caller acts as an administrator ("is_admin").
	IsAdmin bool
	// IsAdminProject says the project is the admin project
	// ("is_admin_project"). Nil sends nothing, which oslo reads as true.
	IsAdminProject *bool
	// ReadOnly asks for no changes ("read_only").
	ReadOnly bool
	// ShowDeleted asks to include deleted records ("show_deleted").
	ShowDeleted bool
	// AuthToken is the caller's token ("auth_token").
	AuthToken string
	// RequestID identifies the request in this service's logs, such as
	// "req-<uuid>" ("request_id").
	RequestID string
	// GlobalRequestID identifies the request across services
	// ("global_request_id").
	GlobalRequestID string
	// ResourceUUID is the resource the request is about ("resource_uuid").
	ResourceUUID string
	// Extra holds every other entry, as received, such as nova's
	// "remote_address" or "service_catalog". Entries of Extra never
	// replace the fields above when sent.
	Extra map[string]any
}

type requestContextKey struct{}

// WithRequestContext returns a copy of ctx that carries rc, the request
// context that calls and casts made with ctx send. rc must not be modified
// afterwards. Nil removes the request context.
func WithRequestContext(ctx context.Context, rc *RequestContext) context.Context {
	return context.WithValue(ctx, requestContextKey{}, rc)
}

// RequestContextFrom returns the request context ctx carries: on a server,
// the caller's. It returns nil when there is none. It must not be
// modified.
func RequestContextFrom(ctx context.Context) *RequestContext {
	rc, _ := ctx.Value(requestContextKey{}).(*RequestContext)
	return rc
}

// GlobalID returns GlobalRequestID, or RequestID when it is empty: the id
// to pass to another service, as oslo's global_id.
func (rc *RequestContext) GlobalID() string {
	if rc.GlobalRequestID != "" {
		return rc.GlobalRequestID
	}
	return rc.RequestID
}

// Map returns the entries rc is sent as: the keys of oslo's to_dict and
// from_dict for its non-zero fields, "user_identity" as oslo formats it
// for logs, and Extra's other entries. A nil rc gives nil.
func (rc *RequestContext) Map() map[string]any {
	if rc == nil {
		return nil
	}
	m := make(map[string]any, len(rc.Extra)+8) // 8: the usual fields
	maps.Copy(m, rc.Extra)
	for _, f := range stringFields {
		if v := *f.field(rc); v != "" {
			m[f.key] = v
		} else {
			delete(m, f.key)
		}
	}
	if rc.ProjectID != "" {
		m["project"] = rc.ProjectID
	} else {
		delete(m, "project")
	}
	for _, f := range boolFields {
		if *f.field(rc) {
			m[f.key] = true
		} else {
			delete(m, f.key)
		}
	}
	if rc.IsAdminProject != nil {
		m["is_admin_project"] = *rc.IsAdminProject
	} else {
		delete(m, "is_admin_project")
	}
	if rc.Roles != nil {
		m["roles"] = append([]string{}, rc.Roles...)
	} else {
		delete(m, "roles")
	}
	m["user_identity"] = dash(rc.UserID) + " " + dash(rc.ProjectID) + " " +
		dash(rc.DomainID) + " " + dash(rc.UserDomainID) + " " + dash(rc.ProjectDomainID)
	return m
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ParseRequestContext reads a request context from the entries it was sent
// as (keys without the _context_ prefix), as oslo's from_dict does. Null
// values are zero; "project_id" wins over "project"; "user_identity",
// derived from the others, is dropped; unknown keys go to Extra. A known
// key with a value of the wrong type fails with an error matching
// ErrMalformed. m is not modified.
func ParseRequestContext(m map[string]any) (*RequestContext, error) {
	rc := &RequestContext{}
	for k, v := range m {
		if err := rc.set(k, v); err != nil {
			return nil, fmt.Errorf("%w request context: %q: %w", ErrMalformed, k, err)
		}
	}
	return rc, nil
}

// set stores the value v received for key k in rc.
func (rc *RequestContext) set(k string, v any) error {
	for _, f := range stringFields {
		if f.key == k {
			return setString(f.field(rc), v)
		}
	}
	for _, f := range boolFields {
		if f.key == k {
			return setBool(f.field(rc), v)
		}
	}
	switch k {
	case "project":
		if rc.ProjectID != "" {
			return checkString(v)
		}
		return setString(&rc.ProjectID, v)
	case "is_admin_project":
		if v == nil {
			return nil
		}
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want a boolean, have %T", v)
		}
		rc.IsAdminProject = &b
	case "roles":
		if v == nil {
			return nil
		}
		if roles, ok := v.([]string); ok {
			rc.Roles = append([]string{}, roles...)
			return nil
		}
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("want a list of strings, have %T", v)
		}
		rc.Roles = make([]string, len(list))
		for i, r := range list {
			s, ok := r.(string)
			if !ok {
				return fmt.Errorf("role %d: want a string, have %T", i, r)
			}
			rc.Roles[i] = s
		}
	case "user_identity":
	default:
		if rc.Extra == nil {
			rc.Extra = make(map[string]any)
		}
		rc.Extra[k] = v
	}
	return nil
}

type stringField struct {
	key   string
	field func(*RequestContext) *string
}

type boolField struct {
	key   string
	field func(*RequestContext) *bool
}

var stringFields = []stringField{
	{"user", func(rc *RequestContext) *string { return &rc.UserID }},
	{"project_id", func(rc *RequestContext) *string { return &rc.ProjectID }},
	{"domain", func(rc *RequestContext) *string { return &rc.DomainID }},
	{"user_domain", func(rc *RequestContext) *string { return &rc.UserDomainID }},
	{"project_domain", func(rc *RequestContext) *string { return &rc.ProjectDomainID }},
	{"system_scope", func(rc *RequestContext) *string { return &rc.SystemScope }},
	{"user_name", func(rc *RequestContext) *string { return &rc.UserName }},
	{"project_name", func(rc *RequestContext) *string { return &rc.ProjectName }},
	{"domain_name", func(rc *RequestContext) *string { return &rc.DomainName }},
	{"user_domain_name", func(rc *RequestContext) *string { return &rc.UserDomainName }},
	{"project_domain_name", func(rc *RequestContext) *string { return &rc.ProjectDomainName }},
	{"auth_token", func(rc *RequestContext) *string { return &rc.AuthToken }},
	{"request_id", func(rc *RequestContext) *string { return &rc.RequestID }},
	{"global_request_id", func(rc *RequestContext) *string { return &rc.GlobalRequestID }},
	{"resource_uuid", func(rc *RequestContext) *string { return &rc.ResourceUUID }},
}

var boolFields = []boolField{
	{"is_admin", func(rc *RequestContext) *bool { return &rc.IsAdmin }},
	{"read_only", func(rc *RequestContext) *bool { return &rc.ReadOnly }},
	{"show_deleted", func(rc *RequestContext) *bool { return &rc.ShowDeleted }},
}

func setString(dst *string, v any) error {
	if err := checkString(v); err != nil {
		return err
	}
	if v != nil {
		*dst = v.(string)
	}
	return nil
}

func checkString(v any) error {
	if _, ok := v.(string); !ok && v != nil {
		return fmt.Errorf("want a string, have %T", v)
	}
	return nil
}

func setBool(dst *bool, v any) error {
	if v == nil {
		return nil
	}
	b, ok := v.(bool)
	if !ok {
		return fmt.Errorf("want a boolean, have %T", v)
	}
	*dst = b
	return nil
}
