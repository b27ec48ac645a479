package transforms

import "github.com/apache/beam/sdks/v2/go/pkg/beam"

// The namespace of every metric of the classify pipeline. The counts
// balance: events_in = dead_lettered + late + not_dispatched + deduped +
// classified (docs/classify.md).
const metricNS = "classify"

var (
	eventsIn      = beam.NewCounter(metricNS, "events_in")
	deadLettered  = beam.NewCounter(metricNS, "dead_lettered")
	lateDropped   = beam.NewCounter(metricNS, "late")
	notDispatched = beam.NewCounter(metricNS, "not_dispatched")
	deduped       = beam.NewCounter(metricNS, "deduped")
	classified    = beam.NewCounter(metricNS, "classified")
	ruleMatches   = beam.NewCounter(metricNS, "rule_matches")
	ruleErrors    = beam.NewCounter(metricNS, "rule_errors")
	traitsWritten = beam.NewCounter(metricNS, "traits_written")
	hydrated      = beam.NewCounter(metricNS, "profiles_hydrated")
	profilesDrop  = beam.NewCounter(metricNS, "profiles_evicted")
	profileWrites = beam.NewCounter(metricNS, "profiles_changed")
	userLookups   = beam.NewCounter(metricNS, "user_lookups")
	userCacheHits = beam.NewCounter(metricNS, "user_cache_hits")
	// writeLatency is the event-to-write latency: from the collector's
	// receive time of the event to its profile write, in milliseconds.
	writeLatency = beam.NewDistribution(metricNS, "event_to_write_ms")
)

// partnerChanges counts the changes fanned out to one partner.
func partnerChanges(partner string) beam.Counter {
	return beam.NewCounter(metricNS, "partner_changes_"+partner)
}

// deadLetterReason counts dead letters by reason.
func deadLetterReason(reason string) beam.Counter {
	return beam.NewCounter(metricNS, "dead_lettered_"+reason)
}
