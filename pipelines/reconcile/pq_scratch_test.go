//go:build segmentflow_wip

package reconcile

import (
	"bytes"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func TestPQScratch(t *testing.T) {
	var buf bytes.Buffer
	pw := parquet.NewGenericWriter[Row](&buf, parquet.Compression(&parquet.Zstd))
	ms := int64(5)
	if _, err := pw.Write([]Row{{MessageID: "a", Type: "track", EventTime: 1, Timestamp: &ms, Properties: `{"a":1}`}, {MessageID: "b", Type: "track"}}); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
}
