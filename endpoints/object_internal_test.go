package endpoints

import "testing"

func TestSnakeCase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Divide", "divide"},
		{"GetStats", "get_stats"},
		{"HTTPStatus", "http_status"},
		{"UserID", "user_id"},
		{"ListIDs", "list_ids"},
		{"GetIDsByName", "get_ids_by_name"},
		{"GetV2Stats", "get_v2_stats"},
		{"HTTP2Server", "http2_server"},
		{"ID", "id"},
		{"A", "a"},
		{"IsActive", "is_active"},
		{"Already_snake", "already_snake"},
		{"ÉtéMode", "été_mode"},
	}
	for _, tt := range tests {
		if got := snakeCase(tt.in); got != tt.want {
			t.Errorf("snakeCase(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
