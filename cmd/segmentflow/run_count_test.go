package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
)

// eventCount is the small batch pipeline the runner tests launch through
// `run`, while the lake's batch pipelines are still being written: it
// counts the events of an NDJSON file by name (track events by `event`,
// the others by `type`) and writes "name,count" lines, sorted.
type eventCount struct {
	Input, Output string
}

func (c *eventCount) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Input, "input", "", "NDJSON events (a file or glob)")
	fs.StringVar(&c.Output, "output", "", "where the counts go")
}

func buildEventCount(s beam.Scope, c eventCount) error {
	if c.Input == "" || c.Output == "" {
		return fmt.Errorf("eventcount: --input and --output are required")
	}
	s = s.Scope("eventcount")
	lines := textio.Read(s, c.Input)
	names := beam.ParDo(s, eventName, lines)
	counts := stats.Count(s, names)
	formatted := beam.ParDo(s, formatCount, counts)
	textio.Write(s, c.Output, formatted)
	return nil
}

func init() {
	register.Function2x1(eventName)
	register.Function2x1(formatCount)
	register.Emitter1[string]()
}

func eventName(line string, emit func(string)) error {
	var e struct{ Type, Event string }
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		return fmt.Errorf("eventcount: %w", err)
	}
	if e.Event != "" {
		emit(e.Event)
	} else {
		emit(e.Type)
	}
	return nil
}

func formatCount(name string, n int) string { return fmt.Sprintf("%s,%d", name, n) }

// testSpecs is the binary's pipelines plus eventcount.
func testSpecs() map[string]pipelineSpec {
	specs := pipelineSpecs()
	specs["eventcount"] = newSpec("batch: count events by name (test pipeline)", false,
		(*eventCount).registerFlags, buildEventCount)
	return specs
}

// expectedCounts counts the sample events the same way, without Beam.
func expectedCounts(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e struct{ Type, Event string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Event != "" {
			n[e.Event]++
		} else {
			n[e.Type]++
		}
	}
	var out []string
	for k, v := range n {
		out = append(out, fmt.Sprintf("%s,%d", k, v))
	}
	sort.Strings(out)
	return out
}

func readCounts(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pipeline output: %v", err)
	}
	out := strings.Split(strings.TrimSpace(string(b)), "\n")
	sort.Strings(out)
	return out
}
