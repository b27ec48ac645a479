package classify

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/segmentflow/segmentflow/io/pubsubio"
	"github.com/segmentflow/segmentflow/transforms"
)

// Build adds the classify pipeline to s: read the subscription, then Classify.
func Build(s beam.Scope, cfg Config) error {
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return err
	}
	s = s.Scope("classify")
	msgs := pubsubio.Read(s, cfg.Project, cfg.Subscription, pubsubio.ReadOptions{
		Endpoint: cfg.PubSubEndpoint,
		Readers:  cfg.Readers,
	})
	return Classify(s, msgs, cfg)
}

// Classify is the pipeline after the source: msgs is a PCollection of
// pubsubio.Message timestamped by event time (tests feed it a TestStream).
//
//	parse ─┬─> dispatch + join users ─> dedup + merge per user ─┬─> Bigtable profiles
//	       │                                                     └─> Pub/Sub activation-<partner>
//	       └─> dead letters ─> Pub/Sub events-dlq
func Classify(s beam.Scope, msgs beam.PCollection, cfg Config) error {
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return err
	}
	bt := transforms.Bigtable{
		Project: cfg.BigtableProject, Instance: cfg.BigtableInstance, Endpoint: cfg.BigtableEndpoint,
		AppProfile: cfg.BigtableAppProfile, Users: cfg.UsersTable, Profiles: cfg.ProfilesTable,
	}
	if bt.Project == "" {
		bt.Project = cfg.Project
	}
	src := transforms.RulesSource{Bucket: cfg.RulesBucket, GCSEndpoint: cfg.GCSEndpoint, Poll: cfg.RulesPoll}

	items, dlq := transforms.Parse(s, msgs, transforms.ParseOptions{DLQTopic: cfg.DLQTopic, AllowedLateness: cfg.AllowedLateness})
	keyed := transforms.JoinUsers(s, items, transforms.JoinOptions{
		Rules: src, Bigtable: bt, CacheSize: cfg.UserCacheSize, CacheTTL: cfg.UserCacheTTL, Batch: cfg.JoinBatch,
	})
	transforms.DedupMerge(s, keyed, transforms.MergeOptions{
		Rules: src, Bigtable: bt, Horizon: cfg.DedupHorizon, Idle: cfg.ProfileIdle,
		Activations: transforms.Activations{Project: cfg.Project, Endpoint: cfg.PubSubEndpoint, TopicPrefix: cfg.ActivationPrefix},
	})
	pubsubio.Publish(s, cfg.Project, dlq, pubsubio.PublishOptions{Endpoint: cfg.PubSubEndpoint})
	return nil
}
