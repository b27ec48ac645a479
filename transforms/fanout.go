package transforms

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/segmentflow/segmentflow/io/pubsubio"
	"github.com/segmentflow/segmentflow/rules"
)

func init() {
	register.DoFn3x1[context.Context, ProfileChange, func(pubsubio.Outgoing), error](&fanOutFn{})
}

// FanOut turns profile changes into one message per partner subscribed to a
// segment that was added or removed, for the topic TopicPrefix+partner, in
// the JSON of rules.Change that `activate` consumes. The partners are those
// of the current rule set.
func FanOut(s beam.Scope, changes beam.PCollection, src RulesSource, topicPrefix string) beam.PCollection {
	s = s.Scope("classify.FanOut")
	return beam.ParDo(s, &fanOutFn{Rules: src, TopicPrefix: topicPrefix}, changes)
}

type fanOutFn struct {
	Rules       RulesSource
	TopicPrefix string

	rules *liveRules
}

func (fn *fanOutFn) Setup(ctx context.Context) error {
	lr, err := fn.Rules.start(ctx)
	if err != nil {
		return err
	}
	fn.rules = lr
	return nil
}

func (fn *fanOutFn) ProcessElement(ctx context.Context, pc ProfileChange, emit func(pubsubio.Outgoing)) error {
	before, after := idSet(pc.Before), idSet(pc.After)
	for id, c := range fn.rules.current().PartnerChanges(pc.User, before, after, pc.EventTime, pc.Version) {
		c.ReceivedAt = pc.ReceivedAt
		b, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("transforms: encode change of %s for %s: %w", pc.User, id, err)
		}
		partnerChanges(id).Inc(ctx, 1)
		emit(pubsubio.Outgoing{Topic: fn.TopicPrefix + id, Data: b, Attributes: map[string]string{"user_id": pc.User}})
	}
	return nil
}

func (fn *fanOutFn) Teardown() error {
	fn.rules.stop()
	return nil
}

// idSet is a view with only ids, which is all PartnerChanges looks at.
func idSet(ids []string) map[string]rules.Membership {
	m := make(map[string]rules.Membership, len(ids))
	for _, id := range ids {
		m[id] = rules.Membership{}
	}
	return m
}
