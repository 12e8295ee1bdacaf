package batch

import "testing"

func TestRemoveDotSegments(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b/c/./../../g": "/a/g",
		"/../a":            "/a",
		"/a/..":            "/",
		"/a/.":             "/a/",
		"/a/b/..":          "/a/",
		"/./":              "/",
		"/a//../b":         "/a/b",
		"/a.b/c..d/.e":     "/a.b/c..d/.e",
		"/":                "/",
	} {
		if got := removeDotSegments(in); got != want {
			t.Errorf("removeDotSegments(%q) = %q, want %q", in, got, want)
		}
	}
}
