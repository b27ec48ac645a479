// Package classify is the streaming classification pipeline: events from
// its subscription of `events`, classified by the current rule set into
// per-user profiles in Bigtable `profiles`, with the changes of partners'
// segments published to `activation-<partner>` and what cannot be classified
// to `events-dlq`. See docs/classify.md for the flags, the steps and the
// hot-reload contract.
package classify

import (
	"errors"
	"flag"
	"time"

	"github.com/segmentflow/segmentflow/infra"
)

// Config is what one classify pipeline reads and writes.
type Config struct {
	// Project is the Google Cloud project of the topics and the subscription.
	Project string
	// Subscription is the pipeline's own subscription of `events`.
	Subscription string
	// PubSubEndpoint is host:port of a Pub/Sub emulator; empty for the real
	// service (or PUBSUB_EMULATOR_HOST).
	PubSubEndpoint string
	// Readers is the number of concurrent pull loops.
	Readers int
	// DLQTopic receives the events that cannot be classified.
	DLQTopic string
	// ActivationPrefix + partner id is a partner's activation topic.
	ActivationPrefix string

	// BigtableProject and BigtableInstance hold the `users` and `profiles`
	// tables; BigtableProject defaults to Project.
	BigtableProject  string
	BigtableInstance string
	// BigtableEndpoint is host:port of a Bigtable emulator; empty for the
	// real service (or BIGTABLE_EMULATOR_HOST).
	BigtableEndpoint string
	// BigtableAppProfile routes the pipeline's reads and writes (empty: the
	// instance's default profile). A deployment gives the streaming jobs the
	// multi-cluster serving profile, so a zone outage fails over instead of
	// stalling classification.
	BigtableAppProfile string
	UsersTable         string
	ProfilesTable      string

	// RulesBucket is the rules repository (io/rulestore).
	RulesBucket string
	// GCSEndpoint is the base URL of a GCS emulator for the rules bucket.
	GCSEndpoint string
	// RulesPoll is how often the repository's pointer is checked; a new
	// version is in force within RulesPoll plus a read (10 s at most with
	// the default).
	RulesPoll time.Duration

	// DedupHorizon is how long (event time) message ids are remembered.
	DedupHorizon time.Duration
	// AllowedLateness is how far behind the collector's receive time an
	// event's (corrected) event time may be.
	AllowedLateness time.Duration
	// ProfileIdle is how long (event time) a user's profile stays cached in
	// pipeline state after the user's latest event.
	ProfileIdle time.Duration
	// UserCacheSize and UserCacheTTL bound the join's cache of `users` rows.
	UserCacheSize int
	UserCacheTTL  time.Duration
	// JoinBatch is the most events whose users are read in one ReadRows.
	JoinBatch int
}

// Defaults is the production configuration but for the project and the
// Bigtable instance of a real deployment.
func Defaults() Config {
	n := infra.Default()
	return Config{
		Project:          n.ProjectLocal,
		Subscription:     n.Subscriptions.Classify,
		Readers:          1,
		DLQTopic:         n.Topics.EventsDLQ,
		ActivationPrefix: n.Topics.ActivationPrefix,
		BigtableInstance: "local",
		UsersTable:       n.Tables.Users,
		ProfilesTable:    n.Tables.Profiles,
		RulesBucket:      n.Buckets.Rules,
		RulesPoll:        2 * time.Second,
		DedupHorizon:     24 * time.Hour,
		AllowedLateness:  7 * 24 * time.Hour,
		ProfileIdle:      10 * time.Minute,
		UserCacheSize:    10_000,
		UserCacheTTL:     5 * time.Second,
		JoinBatch:        500,
	}
}

// RegisterFlags adds the pipeline's flags to fs; unset fields get the
// Defaults as flag defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.fill()
	fs.StringVar(&c.Project, "pubsub_project", c.Project, "Google Cloud project of the subscription and the topics")
	fs.StringVar(&c.Subscription, "subscription", c.Subscription, "the pipeline's subscription of the events topic")
	fs.StringVar(&c.PubSubEndpoint, "pubsub_endpoint", c.PubSubEndpoint, "host:port of a Pub/Sub emulator (default: the real service)")
	fs.IntVar(&c.Readers, "readers", c.Readers, "concurrent Pub/Sub pull loops")
	fs.StringVar(&c.DLQTopic, "dlq_topic", c.DLQTopic, "topic of the events that cannot be classified (reason + original payload)")
	fs.StringVar(&c.ActivationPrefix, "activation_prefix", c.ActivationPrefix, "a partner's changes go to the topic PREFIX<partner id>")
	fs.StringVar(&c.BigtableProject, "bigtable_project", c.BigtableProject, "project of the Bigtable instance (default: --pubsub_project)")
	fs.StringVar(&c.BigtableInstance, "bigtable_instance", c.BigtableInstance, "Bigtable instance of the users and profiles tables")
	fs.StringVar(&c.BigtableEndpoint, "bigtable_endpoint", c.BigtableEndpoint, "host:port of a Bigtable emulator (default: the real service)")
	fs.StringVar(&c.BigtableAppProfile, "bigtable_app_profile", c.BigtableAppProfile, "Bigtable app profile of the pipeline's reads and writes (default: the instance's default profile)")
	fs.StringVar(&c.UsersTable, "users_table", c.UsersTable, "table of user traits and stats")
	fs.StringVar(&c.ProfilesTable, "profiles_table", c.ProfilesTable, "table of segmented profiles")
	fs.StringVar(&c.RulesBucket, "rules_bucket", c.RulesBucket, "bucket of the rules repository")
	fs.StringVar(&c.GCSEndpoint, "gcs_endpoint", c.GCSEndpoint, "base URL of a GCS emulator for the rules bucket, e.g. http://127.0.0.1:4443")
	fs.DurationVar(&c.RulesPoll, "rules_poll", c.RulesPoll, "how often the current rule-set pointer is checked (hot reload)")
	fs.DurationVar(&c.DedupHorizon, "dedup_horizon", c.DedupHorizon, "event time a message id is remembered for dropping duplicates")
	fs.DurationVar(&c.AllowedLateness, "allowed_lateness", c.AllowedLateness, "how far an event's time may lie behind its receive time before it is dead-lettered as late")
	fs.DurationVar(&c.ProfileIdle, "profile_idle", c.ProfileIdle, "event time a user's profile stays cached in pipeline state after the user's latest event")
	fs.IntVar(&c.UserCacheSize, "user_cache_size", c.UserCacheSize, "users rows kept by each join instance")
	fs.DurationVar(&c.UserCacheTTL, "user_cache_ttl", c.UserCacheTTL, "how long a cached users row is trusted")
	fs.IntVar(&c.JoinBatch, "join_batch", c.JoinBatch, "most events whose users are read in one Bigtable ReadRows")
}

// fill gives unset fields their defaults.
func (c *Config) fill() {
	d := Defaults()
	str := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	dur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	num := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	str(&c.Project, d.Project)
	str(&c.Subscription, d.Subscription)
	str(&c.DLQTopic, d.DLQTopic)
	str(&c.ActivationPrefix, d.ActivationPrefix)
	str(&c.BigtableInstance, d.BigtableInstance)
	str(&c.UsersTable, d.UsersTable)
	str(&c.ProfilesTable, d.ProfilesTable)
	str(&c.RulesBucket, d.RulesBucket)
	dur(&c.RulesPoll, d.RulesPoll)
	dur(&c.DedupHorizon, d.DedupHorizon)
	dur(&c.ProfileIdle, d.ProfileIdle)
	dur(&c.UserCacheTTL, d.UserCacheTTL)
	num(&c.Readers, d.Readers)
	num(&c.UserCacheSize, d.UserCacheSize)
	num(&c.JoinBatch, d.JoinBatch)
	dur(&c.AllowedLateness, d.AllowedLateness)
}

func (c Config) validate() error {
	var errs []error
	if c.Project == "" {
		errs = append(errs, errors.New("a project is required"))
	}
	if c.BigtableInstance == "" || c.UsersTable == "" || c.ProfilesTable == "" {
		errs = append(errs, errors.New("a Bigtable instance and the users and profiles tables are required"))
	}
	if c.RulesBucket == "" {
		errs = append(errs, errors.New("a rules bucket is required"))
	}
	if c.DLQTopic == "" || c.ActivationPrefix == "" {
		errs = append(errs, errors.New("a DLQ topic and an activation topic prefix are required"))
	}
	if c.DedupHorizon <= 0 || c.ProfileIdle <= 0 || c.RulesPoll <= 0 || c.AllowedLateness <= 0 {
		errs = append(errs, errors.New("durations must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return errors.Join(errors.New("classify: invalid configuration"), err)
	}
	return nil
}
