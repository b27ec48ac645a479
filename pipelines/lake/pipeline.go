package lake

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/segmentflow/segmentflow/io/lakewriter"
	"github.com/segmentflow/segmentflow/io/pubsubio"
)

func init() {
	register.Function2x0(toRecord)
	register.Emitter1[lakewriter.Record]()
}

// Build adds the lake pipeline to s: read the subscription, write the lake.
// Nothing between the read and the writer shuffles, so the two run fused and
// a message is acknowledged only after its bundle's part is durable.
func Build(s beam.Scope, cfg Config) error {
	opts, err := cfg.writerOptions()
	if err != nil {
		return err
	}
	s = s.Scope("lake")
	msgs := pubsubio.Read(s, cfg.Project, cfg.Subscription, pubsubio.ReadOptions{
		Endpoint:    cfg.PubSubEndpoint,
		Readers:     cfg.Readers,
		AckDeadline: cfg.AckDeadline,
	})
	return lakewriter.Write(s, beam.ParDo(s, toRecord, msgs), opts)
}

func toRecord(m pubsubio.Message, emit func(lakewriter.Record)) {
	emit(lakewriter.Record{ID: m.ID, Data: m.Data, PublishMillis: m.PublishTime.UnixMilli()})
}
