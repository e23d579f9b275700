package patchctl

// Version is the release of this build, set with
// -ldflags "-X github.com/patchctl/patchctl.Version=v1.2.3".
var Version = "dev"
