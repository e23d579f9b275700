package imageref

import "testing"

func TestIsArchivePath(t *testing.T) {
	for name, want := range map[string]bool{
		"alpine:3.10":                   false,
		"registry.example/app@sha256:1": false,
		"image.tar":                     true,
		"build/app.tar.gz":              true,
		"app.tgz":                       true,
		"/tmp/image":                    true,
		"./image":                       true,
		"../image":                      true,
		"":                              false,
	} {
		if got := IsArchivePath(name); got != want {
			t.Errorf("IsArchivePath(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestDigest(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"registry.example/app@sha256:abc"}, "sha256:abc"},
		{[]string{"no-digest", "registry.example/app@", "x@sha256:def", "y@sha256:ghi"}, "sha256:def"},
	} {
		if got := Digest(tc.in); got != tc.want {
			t.Errorf("Digest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
