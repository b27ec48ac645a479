package emulators

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/bigtable"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/segmentflow/segmentflow/infra"
)

// Config names what Provision creates.
type Config struct {
	Project  string
	Instance string
	Names    infra.Names
	// Partners get an activation-<partner> topic and its subscription.
	Partners []string
	// AckDeadline of every subscription; 60 s when zero.
	AckDeadline time.Duration
}

// Provision creates topics, subscriptions, tables, column families, GC
// policies and buckets as infra/ does on Google Cloud. It is idempotent: what
// exists is left as it is. Any of ps, bt, g may be nil to skip that service.
func Provision(ctx context.Context, cfg Config, ps *PubSub, bt *Bigtable, g *GCS) error {
	if cfg.Project == "" {
		cfg.Project = cfg.Names.ProjectLocal
	}
	if cfg.Instance == "" {
		cfg.Instance = "local"
	}
	if ps != nil {
		if err := provisionPubSub(ctx, cfg, ps); err != nil {
			return err
		}
	}
	if bt != nil {
		if err := provisionBigtable(ctx, cfg, bt); err != nil {
			return err
		}
	}
	if g != nil {
		if err := provisionGCS(ctx, cfg, g); err != nil {
			return err
		}
	}
	return nil
}

func provisionPubSub(ctx context.Context, cfg Config, ps *PubSub) error {
	c, err := ps.Client(ctx, cfg.Project)
	if err != nil {
		return err
	}
	defer c.Close()
	n := cfg.Names
	ack := cfg.AckDeadline
	if ack == 0 {
		ack = 60 * time.Second
	}
	topic := func(id string) string { return fmt.Sprintf("projects/%s/topics/%s", cfg.Project, id) }
	sub := func(id string) string { return fmt.Sprintf("projects/%s/subscriptions/%s", cfg.Project, id) }
	topics := []string{n.Topics.Events, n.Topics.EventsDLQ}
	subs := [][2]string{
		{n.Subscriptions.Classify, n.Topics.Events},
		{n.Subscriptions.Lake, n.Topics.Events},
		{n.Subscriptions.EventsDLQ, n.Topics.EventsDLQ},
	}
	for _, p := range cfg.Partners {
		topics = append(topics, n.ActivationTopic(p))
		subs = append(subs, [2]string{n.ActivationSubscription(p), n.ActivationTopic(p)})
	}
	for _, t := range topics {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic(t)}); ignoreExists(err) != nil {
			return fmt.Errorf("emulators: create topic %s: %w", t, err)
		}
	}
	for _, s := range subs {
		_, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
			Name:                     sub(s[0]),
			Topic:                    topic(s[1]),
			AckDeadlineSeconds:       int32(ack / time.Second),
			MessageRetentionDuration: durationpb.New(7 * 24 * time.Hour),
		})
		if ignoreExists(err) != nil {
			return fmt.Errorf("emulators: create subscription %s: %w", s[0], err)
		}
	}
	return nil
}

func provisionBigtable(ctx context.Context, cfg Config, bt *Bigtable) error {
	ac, err := bt.AdminClient(ctx, cfg.Project, cfg.Instance)
	if err != nil {
		return err
	}
	defer ac.Close()
	n := cfg.Names
	type family struct {
		name string
		gc   bigtable.GCPolicy
	}
	tables := map[string][]family{
		n.Tables.Users: {
			{n.Families.Traits, bigtable.MaxAgePolicy(time.Duration(n.GC.TraitsMaxAgeHours) * time.Hour)},
			{n.Families.Stats, bigtable.MaxVersionsPolicy(n.GC.StatsMaxVersions)},
		},
		n.Tables.Profiles: {
			{n.Families.Seg, bigtable.MaxVersionsPolicy(n.GC.SegMaxVersions)},
			{n.Families.Meta, bigtable.MaxVersionsPolicy(n.GC.MetaMaxVersions)},
		},
	}
	for table, fams := range tables {
		if err := ac.CreateTable(ctx, table); ignoreExists(err) != nil {
			return fmt.Errorf("emulators: create table %s: %w", table, err)
		}
		for _, f := range fams {
			if err := ac.CreateColumnFamily(ctx, table, f.name); ignoreExists(err) != nil {
				return fmt.Errorf("emulators: create family %s:%s: %w", table, f.name, err)
			}
			// bttest applies GC policies only after SetGCPolicy.
			if err := ac.SetGCPolicy(ctx, table, f.name, f.gc); err != nil {
				return fmt.Errorf("emulators: gc policy %s:%s: %w", table, f.name, err)
			}
		}
	}
	return nil
}

func provisionGCS(ctx context.Context, cfg Config, g *GCS) error {
	c, err := g.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, b := range []string{cfg.Names.Buckets.Lake, cfg.Names.Buckets.Rules} {
		// No object versioning here (terraform enables it on the rules
		// bucket): fake-gcs-server's disk backend does not support it, and
		// the rules repository relies on generation preconditions anyway.
		if err := c.Bucket(b).Create(ctx, cfg.Project, &storage.BucketAttrs{}); err != nil {
			if _, aerr := c.Bucket(b).Attrs(ctx); aerr == nil {
				continue // exists, e.g. kept on disk by an earlier run
			}
			return fmt.Errorf("emulators: create bucket %s: %w", b, err)
		}
	}
	return nil
}

// ignoreExists makes creation idempotent. status.Code unwraps wrapped gRPC
// errors itself, so the client libraries' wrapping needs no special case.
func ignoreExists(err error) error {
	if status.Code(err) == codes.AlreadyExists {
		return nil
	}
	return err
}
