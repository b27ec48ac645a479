package lakewriter

import (
	"fmt"
	"strings"
	"time"
)

// Options configure Write. Zero fields take the defaults noted.
type Options struct {
	// Dest is the URL final objects go under, e.g. gs://LAKE/raw/ (required).
	Dest string
	// BadRows is where records that are not one JSON value go, wrapped with
	// the reason, in the same layout (required), e.g. gs://LAKE/badrows/lake/.
	BadRows string
	// Staging is the writer's work area for parts not yet rolled (required),
	// e.g. gs://LAKE/staging/lake/. It must be on the same file system as
	// Dest and outside of it, so no reader of Dest ever lists a part.
	Staging string
	// Interval is the processing-time window, the longest an object stays
	// open; 10 minutes.
	Interval time.Duration
	// MaxBytes is the most (compressed) bytes in one object before it is
	// rolled early; 128 MiB.
	MaxBytes int64
	// Shards is how many objects a window is spread over (each bundle picks
	// one), so no single roll is a bottleneck; 4, at most 99.
	Shards int
	// Grace is how long after a window ends its parts may still arrive
	// before it is rolled; min(30 s, Interval).
	Grace time.Duration
	// GCSEndpoint, when set, sends gs:// URLs to this storage endpoint (the
	// GCS emulator: http://host:port) instead of Google Cloud.
	GCSEndpoint string
}

const (
	kindRaw     = "raw"
	kindBadRows = "badrows"
)

func (o Options) withDefaults() (Options, error) {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Minute
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 128 << 20
	}
	if o.Shards <= 0 {
		o.Shards = 4
	}
	if o.Grace <= 0 {
		o.Grace = min(30*time.Second, o.Interval)
	}
	switch {
	case o.Dest == "" || o.BadRows == "" || o.Staging == "":
		return o, fmt.Errorf("lakewriter: Dest, BadRows and Staging are required (got %q, %q, %q)", o.Dest, o.BadRows, o.Staging)
	case o.Interval < time.Second || o.Interval%time.Second != 0:
		return o, fmt.Errorf("lakewriter: interval %v must be whole seconds", o.Interval)
	case o.Shards > 99:
		return o, fmt.Errorf("lakewriter: %d shards, at most 99", o.Shards)
	case scheme(o.Dest) != scheme(o.Staging) || scheme(o.BadRows) != scheme(o.Staging):
		return o, fmt.Errorf("lakewriter: Dest %s, BadRows %s and Staging %s must share a file system", o.Dest, o.BadRows, o.Staging)
	}
	o.Dest, o.BadRows, o.Staging = withSlash(o.Dest), withSlash(o.BadRows), withSlash(o.Staging)
	if strings.HasPrefix(o.Staging, o.Dest) || strings.HasPrefix(o.Staging, o.BadRows) {
		return o, fmt.Errorf("lakewriter: staging %s must not be inside %s or %s", o.Staging, o.Dest, o.BadRows)
	}
	return o, nil
}

func scheme(url string) string {
	if i := strings.Index(url, "://"); i > 0 {
		return url[:i]
	}
	return ""
}

// layouts are the two streams the writer keeps: events and bad rows.
func (o Options) layouts() map[string]layout {
	return map[string]layout{
		kindRaw:     {Dest: o.Dest, Staging: o.Staging + kindRaw + "/", Interval: o.Interval},
		kindBadRows: {Dest: o.BadRows, Staging: o.Staging + kindBadRows + "/", Interval: o.Interval},
	}
}
