package transforms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/segmentflow/segmentflow/rules"
)

// Activations is where partner changes go: the topic TopicPrefix+partner
// in Project, one rules.Change as JSON per message (what `activate`
// consumes).
type Activations struct {
	Project string
	// Endpoint is host:port of a Pub/Sub emulator; empty for the real
	// service (or PUBSUB_EMULATOR_HOST).
	Endpoint    string
	TopicPrefix string
}

// profileChange is one profile write whose segment set changed.
type profileChange struct {
	user          string
	before, after []string
	eventTime     time.Time
	receivedAt    time.Time
	version       int64
}

// fanOut publishes the partner changes of a bundle's profile writes. It runs
// in the merge step, before the profiles are written: a profile row in
// Bigtable then always means its partner changes were published, so a
// crash between the two can only repeat a change (activate drops a version
// it already delivered), never lose one.
type fanOut struct {
	prefix string
	client *pubsub.Client
	pubs   map[string]*pubsub.Publisher
}

func (a Activations) connect(ctx context.Context) (*fanOut, error) {
	var opts []option.ClientOption
	if a.Endpoint != "" {
		opts = append(opts,
			option.WithEndpoint(a.Endpoint),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		)
	}
	c, err := pubsub.NewClient(ctx, a.Project, opts...)
	if err != nil {
		return nil, fmt.Errorf("transforms: pubsub %s (endpoint %q): %w", a.Project, a.Endpoint, err)
	}
	return &fanOut{prefix: a.TopicPrefix, client: c, pubs: map[string]*pubsub.Publisher{}}, nil
}

// publish sends one message per partner subscribed to a segment that was
// added or removed, with the partners of eng, and waits until Pub/Sub has
// accepted all of them.
func (f *fanOut) publish(ctx context.Context, eng *rules.Engine, changes []profileChange) error {
	var results []*pubsub.PublishResult
	for _, pc := range changes {
		for id, c := range eng.PartnerChanges(pc.user, idSet(pc.before), idSet(pc.after), pc.eventTime, pc.version) {
			c.ReceivedAt = pc.receivedAt
			b, err := json.Marshal(c)
			if err != nil {
				return fmt.Errorf("transforms: encode change of %s for %s: %w", pc.user, id, err)
			}
			pub, ok := f.pubs[id]
			if !ok {
				pub = f.client.Publisher(f.prefix + id)
				// The bundle waits for these results before it writes its
				// profiles, so batching by delay would only stall it: send
				// what a bundle has at once.
				pub.PublishSettings.DelayThreshold = time.Millisecond
				f.pubs[id] = pub
			}
			results = append(results, pub.Publish(ctx, &pubsub.Message{Data: b, Attributes: map[string]string{"user_id": pc.user}}))
			partnerChanges(id).Inc(ctx, 1)
		}
	}
	var errs []error
	for _, r := range results {
		if _, err := r.Get(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("transforms: publish %d of %d partner changes: %w", len(errs), len(results), err)
	}
	return nil
}

func (f *fanOut) close() error {
	if f == nil {
		return nil
	}
	for _, p := range f.pubs {
		p.Stop()
	}
	return f.client.Close()
}

// idSet is a view with only ids, which is all PartnerChanges looks at.
func idSet(ids []string) map[string]rules.Membership {
	m := make(map[string]rules.Membership, len(ids))
	for _, id := range ids {
		m[id] = rules.Membership{}
	}
	return m
}
