package batch

import "testing"

func TestSameHost(t *testing.T) {
	for _, tt := range []struct {
		call, endpoint, scheme string
		want                   bool
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", "http", true},
		{"127.0.0.1", "127.0.0.1:8080", "http", true}, // Google's Ruby client
		{"127.0.0.1:8081", "127.0.0.1:8080", "http", false},
		{"Example.COM", "example.com", "http", true},
		{"example.com.", "example.com", "https", true},
		{"example.com:80", "example.com", "http", true},
		{"example.com:443", "example.com", "https", true},
		{"example.com:443", "example.com", "http", false},
		{"example.com:8443", "example.com", "https", false},
		{"evil.example", "example.com", "http", false},
		{"evil.example:8080", "127.0.0.1:8080", "http", false},
		{"[::1]", "[::1]:8080", "http", true},
		{"[::1]:8080", "[::1]:8080", "http", true},
		{"[::2]:8080", "[::1]:8080", "http", false},
		{"", "example.com", "http", false},
		{"example.com:", "example.com", "http", true},
		{"::1", "[::1]", "http", true},
		{"[::1", "[::1]", "http", false},
	} {
		if got := sameHost(tt.call, tt.endpoint, tt.scheme); got != tt.want {
			t.Errorf("sameHost(%q, %q, %q) = %v, want %v", tt.call, tt.endpoint, tt.scheme, got, tt.want)
		}
	}
}
