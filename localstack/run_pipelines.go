package localstack

import (
	"context"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/segmentflow/segmentflow/pipelines/classify"
	"github.com/segmentflow/segmentflow/pipelines/lake"
)

// startPipelines runs lake and classify as separate prism jobs, so each
// restarts on its own schedule and one's failure does not stop the other.
func (s *Stack) startPipelines() error {
	lcfg := lake.Defaults()
	lcfg.Lake = "gs://" + s.Names.Buckets.Lake
	lcfg.Project = s.cfg.Project
	lcfg.PubSubEndpoint = s.PubSub.Addr
	lcfg.GCSEndpoint = s.GCS.URL
	lcfg.RollInterval = s.cfg.LakeRoll
	lcfg.Shards = 1
	s.jobs = append(s.jobs, &streamingJob{
		name:    "lake",
		build:   func(sc beam.Scope) error { return lake.Build(sc, lcfg) },
		restart: s.cfg.PipelineRestart,
		log:     s.log,
	})
	ccfg := classify.Defaults()
	ccfg.Project = s.cfg.Project
	ccfg.PubSubEndpoint = s.PubSub.Addr
	ccfg.BigtableProject = s.cfg.Project
	ccfg.BigtableInstance = s.cfg.Instance
	ccfg.BigtableEndpoint = s.Bigtable.Addr
	ccfg.GCSEndpoint = s.GCS.URL
	s.jobs = append(s.jobs, &streamingJob{
		name:    "classify",
		build:   func(sc beam.Scope) error { return classify.Build(sc, ccfg) },
		restart: s.cfg.PipelineRestart,
		log:     s.log,
	})
	s.classifyOn = true
	ctx, cancel := context.WithCancel(context.Background())
	s.jobStop = cancel
	for _, j := range s.jobs {
		s.jobDone.Add(1)
		go func() {
			defer s.jobDone.Done()
			if err := j.run(ctx); err != nil {
				s.log.Error("pipeline stopped", "pipeline", j.name, "err", err)
			}
		}()
	}
	return nil
}

// drain waits, at most for limit, until every message published to the
// events and activation topics was acked by each of its consumers, so a
// Ctrl-C right after traffic still classifies, lakes and delivers it.
// pstest counts acks per message across subscriptions.
func (s *Stack) drain(ctx context.Context, limit time.Duration) {
	consumers := map[string]int{"/topics/" + s.Names.Topics.Events: len(s.jobs)}
	if s.classifyOn {
		for _, p := range s.Partners {
			consumers["/topics/"+s.Names.ActivationTopic(p.ID)] = 1
		}
	}
	deadline := time.Now().Add(limit)
	var logged time.Time
	for time.Now().Before(deadline) && ctx.Err() == nil {
		pending := 0
		byTopic := map[string]int{}
		for _, m := range s.PubSub.Server.Messages() {
			for topic, n := range consumers {
				if strings.HasSuffix(m.Topic, topic) && m.Acks < n {
					pending++
					byTopic[topic]++
				}
			}
		}
		if pending == 0 {
			return
		}
		if time.Since(logged) > 5*time.Second {
			s.log.Info("draining", "unacked", pending, "by_topic", byTopic)
			logged = time.Now()
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.log.Warn("drain: gave up waiting; the Pub/Sub emulator keeps nothing, so unacked messages are lost with it", "limit", limit)
}
