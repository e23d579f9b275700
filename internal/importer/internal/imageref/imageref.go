// Package imageref reads what scanners write about container images when
// they name an image asset: whether a name is the path of an image archive
// rather than an image reference, and the digest among repository digests.
// Trivy, Grype and SARIF logs written by Trivy share these spellings.
package imageref

import "strings"

// IsArchivePath reports whether an image name is the path of an image
// archive (image.tar, ./build/app.tar.gz, /tmp/x) rather than a reference.
func IsArchivePath(name string) bool {
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.xz", ".tar.bz2"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return strings.HasPrefix(name, "/") || strings.HasPrefix(name, "./") || strings.HasPrefix(name, "../")
}

// Digest returns the digest of the first "repository@digest" entry that
// has one, or "".
func Digest(repoDigests []string) string {
	for _, d := range repoDigests {
		if _, digest, ok := strings.Cut(d, "@"); ok && digest != "" {
			return digest
		}
	}
	return ""
}
