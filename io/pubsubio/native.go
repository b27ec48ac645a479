package pubsubio

import (
	"fmt"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/typex"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/protox"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/reflectx"
	pipepb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/pipeline_v1"
	"google.golang.org/protobuf/proto"
)

// readURN is the transform Dataflow replaces with its native Pub/Sub read.
// Beam's own Go pubsubio emits the same external transform, but it pulls in
// the deprecated genproto Pub/Sub package; the wire format (a serialized
// PubsubMessage per element) is what matters, so it is built here directly.
const readURN = "beam:transform:pubsub_read:v1"

func nativeRead(s beam.Scope, project, subscription string) beam.PCollection {
	payload := &pipepb.PubSubReadPayload{
		Subscription:       subscriptionPath(project, subscription),
		TimestampAttribute: TimestampAttribute,
		WithAttributes:     true,
	}
	out := beam.External(s, readURN, protox.MustEncode(payload), nil,
		[]beam.FullType{typex.New(reflectx.ByteSlice)}, false)
	return out[0]
}

// fromNativeFn converts Dataflow's native read output to Message.
type fromNativeFn struct{}

func (*fromNativeFn) ProcessElement(raw []byte, emit func(beam.EventTime, Message)) error {
	var pm pubsubpb.PubsubMessage
	if err := proto.Unmarshal(raw, &pm); err != nil {
		return fmt.Errorf("pubsubio: decode native pubsub message: %w", err)
	}
	m := fromProto("", &pm)
	emit(beam.EventTime(EventTime(m).UnixMilli()), m)
	return nil
}
