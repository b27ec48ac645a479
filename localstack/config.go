package localstack

import (
	"io"
	"log/slog"
	"time"
)

// Config is everything Start needs. Zero fields take the defaults of
// DESIGN.md (the ports of `segmentflow local`); tests set every address to
// "127.0.0.1:0" to get free ports.
type Config struct {
	// Listen addresses of the services and emulators.
	CollectorAddr, RulesAddr, ProfilesAddr string
	PubSubAddr, BigtableAddr, GCSAddr      string
	// ReceiverAddr is where partner receivers listen when
	// ReceiversOnRuleSetPorts is false ("127.0.0.1:0": a free port each).
	ReceiverAddr string
	// ReceiversOnRuleSetPorts makes a partner's receiver listen on the
	// host:port of its rule-set endpoint when that is a loopback address
	// (the example rule set's 127.0.0.1:9101 and :9102), so the rule set is
	// used as published. Otherwise receivers take ReceiverAddr and
	// activate's config points the partner at them.
	ReceiversOnRuleSetPorts bool

	// Project and Instance name the emulated project and Bigtable instance.
	Project, Instance string
	// WriteKey is the one source's write key; RulesToken the rules API
	// token with the publisher role.
	WriteKey, RulesToken string
	// PartnerKey is the HMAC key activate signs with and the receivers
	// check.
	PartnerKey string

	// RuleSet is the document published as version 1 when the repository
	// is empty (testdata/rulesets/game.yaml in `segmentflow local`).
	RuleSet []byte
	// SampleUsers (user id -> {traits, stats} JSON, testdata/users/sample.json)
	// feed the console's field list and dry-run form; optional.
	SampleUsers []byte

	// DataDir keeps what the emulators allow on disk between runs (GCS
	// objects: the lake, the rules repository, dead letters, file drops);
	// empty keeps everything in memory.
	DataDir string
	// LakeRoll is how long a raw lake object collects events (1 min locally).
	LakeRoll time.Duration
	// PipelineRestart restarts each streaming pipeline this often to bound
	// prism's in-memory state; no event is lost since reads are acked only
	// after their bundle committed. Zero never restarts.
	PipelineRestart time.Duration

	// PubSubPurge is how often the Pub/Sub emulator forgets the messages no
	// subscription holds any more (pstest otherwise keeps every message ever
	// published; see tools/pstest-patch.sh). Zero never purges.
	PubSubPurge time.Duration

	// DrainTimeout bounds how long Shutdown waits for the pipelines and
	// activate to consume what the collector published (20 s when zero).
	DrainTimeout time.Duration

	// Generate is the synthetic game's event rate per second; 0 is none.
	Generate int
	// Users is the synthetic game's number of players.
	Users int

	// StatusEvery is the status line's period; zero prints none.
	StatusEvery time.Duration
	// Out receives the endpoints and the status line; io.Discard when nil.
	Out io.Writer
	// Logger (slog.Default() when nil).
	Logger *slog.Logger
}

// Defaults are the settings of `segmentflow local` (DESIGN.md).
func Defaults() Config {
	return Config{
		CollectorAddr:           "127.0.0.1:8080",
		RulesAddr:               "127.0.0.1:8090",
		ProfilesAddr:            "127.0.0.1:8091",
		PubSubAddr:              "127.0.0.1:8085",
		BigtableAddr:            "127.0.0.1:8086",
		GCSAddr:                 "127.0.0.1:4443",
		ReceiverAddr:            "127.0.0.1:0",
		ReceiversOnRuleSetPorts: true,
		Project:                 "local",
		Instance:                "local",
		WriteKey:                "dev",
		RulesToken:              "dev",
		PartnerKey:              "dev-partner-key",
		LakeRoll:                time.Minute,
		PipelineRestart:         time.Hour,
		PubSubPurge:             30 * time.Second,
		Users:                   2000,
		StatusEvery:             time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := Defaults()
	str := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	str(&c.CollectorAddr, d.CollectorAddr)
	str(&c.RulesAddr, d.RulesAddr)
	str(&c.ProfilesAddr, d.ProfilesAddr)
	str(&c.PubSubAddr, d.PubSubAddr)
	str(&c.BigtableAddr, d.BigtableAddr)
	str(&c.GCSAddr, d.GCSAddr)
	str(&c.ReceiverAddr, d.ReceiverAddr)
	str(&c.Project, d.Project)
	str(&c.Instance, d.Instance)
	str(&c.WriteKey, d.WriteKey)
	str(&c.RulesToken, d.RulesToken)
	str(&c.PartnerKey, d.PartnerKey)
	if c.LakeRoll <= 0 {
		c.LakeRoll = d.LakeRoll
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 20 * time.Second
	}
	if c.Users <= 0 {
		c.Users = d.Users
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
