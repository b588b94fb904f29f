// Package web embeds the faceverify Web SDK (faceverify.js, its
// TypeScript types faceverify.d.ts) and the example partner kiosk page
// (example.html) so Go servers, such as the sample partner, can serve
// them without a copy.
package web

import (
	"embed"
	"io/fs"
)

//go:embed faceverify.js faceverify.d.ts example.html
var files embed.FS

// Files is the SDK and the example page, at the root of the FS.
func Files() fs.FS { return files }
