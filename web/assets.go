// Package web holds the rules console: plain HTML, CSS and JavaScript ES
// modules with no build step, embedded in the binary so `segmentflow rules`
// serves it without a separate front-end server.
package web

import (
	"embed"
	"io/fs"
)

// Assets are the console's files under console/.
//
//go:embed console
var Assets embed.FS

// Console is the console's file tree with index.html at its root.
func Console() fs.FS {
	sub, err := fs.Sub(Assets, "console")
	if err != nil {
		// Only a broken embed directive gets here; the build would catch it.
		panic(err)
	}
	return sub
}
