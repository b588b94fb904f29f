package attack

import "strings"

// buildTags are the build tags of this test binary that change the
// gateway's behaviour (turbojpeg: libjpeg-turbo decodes JPEG); TestMain
// builds the binaries with them, so the processes attacked are the ones
// `make build` would produce with the same tags.
var buildTags []string

// buildArgs is the `go build` command line of the binaries of pkgs into
// out.
func buildArgs(out string, pkgs ...string) []string {
	args := []string{"build"}
	if len(buildTags) > 0 {
		args = append(args, "-tags", strings.Join(buildTags, ","))
	}
	return append(append(args, "-o", out), pkgs...)
}
