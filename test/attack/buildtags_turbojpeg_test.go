//go:build turbojpeg && cgo

package attack

func init() { buildTags = append(buildTags, "turbojpeg") }
