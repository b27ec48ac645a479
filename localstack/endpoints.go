package localstack

import (
	"fmt"
	"io"
)

// PrintEndpoints writes where everything listens and how to try it.
func (s *Stack) PrintEndpoints(w io.Writer) {
	fmt.Fprintf(w, "segmentflow local: project %s\n", s.cfg.Project)
	fmt.Fprintf(w, "  collector     %s   (write key %q: curl -u %s: %s/v1/track -d '{...}')\n", s.CollectorURL, s.cfg.WriteKey, s.cfg.WriteKey, s.CollectorURL)
	fmt.Fprintf(w, "  rules API     %s/v1/rulesets/current   (Authorization: Bearer %s)\n", s.RulesURL, s.cfg.RulesToken)
	fmt.Fprintf(w, "  console       %s/\n", s.RulesURL)
	fmt.Fprintf(w, "  profile API   %s/v1/profiles/{userId}\n", s.ProfilesURL)
	fmt.Fprintf(w, "  Pub/Sub       %s   (PUBSUB_EMULATOR_HOST)\n", s.PubSub.Addr)
	fmt.Fprintf(w, "  Bigtable      %s   (BIGTABLE_EMULATOR_HOST, instance %s)\n", s.Bigtable.Addr, s.cfg.Instance)
	fmt.Fprintf(w, "  GCS           %s   (STORAGE_EMULATOR_HOST; lake gs://%s, rules gs://%s)\n", s.GCS.URL, s.Names.Buckets.Lake, s.Names.Buckets.Rules)
	for _, p := range s.Partners {
		switch {
		case s.Receivers[p.ID] != nil:
			fmt.Fprintf(w, "  partner %-8s receiver %s (HMAC key %q)\n", p.ID, s.Receivers[p.ID].URL, s.cfg.PartnerKey)
		case s.FileDrops[p.ID] != "":
			fmt.Fprintf(w, "  partner %-8s file drop %s\n", p.ID, s.FileDrops[p.ID])
		default:
			fmt.Fprintf(w, "  partner %-8s %s\n", p.ID, p.Endpoint)
		}
	}
	for _, j := range s.jobs {
		fmt.Fprintf(w, "  pipeline %-7s on prism (in process)\n", j.name)
	}
	if s.cfg.DataDir != "" {
		fmt.Fprintf(w, "  data          %s (GCS objects kept; Pub/Sub and Bigtable are in memory)\n", s.cfg.DataDir)
	}
	if s.Generator != nil {
		fmt.Fprintf(w, "  generator     %d events/s over %d players\n", s.cfg.Generate, s.cfg.Users)
	}
}
