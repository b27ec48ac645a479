// Package rulestore keeps the versions of the rule set in a GCS bucket: the
// repository behind `segmentflow rules` and the source the classify pipeline
// hot-reloads from.
//
// Layout (names from infra.Default().RulesObjects):
//
//	rulesets/current.json            pointer {"version","object","updated_at","updated_by"}
//	rulesets/versions/0000007.json   one immutable object per version
//	rulesets/history/0000007.json    audit entry: who published what, when, and why
//
// The pointer is the commit point. A publish writes the new version object
// (must not exist), then moves the pointer with a generation precondition on
// the pointer object as it was read, so two editors publishing on the same
// version never silently overwrite each other: the second one gets a
// *ConflictError naming the version that is current now. Readers follow the
// pointer, so they never see a version whose publish did not complete.
//
// Hot reload: Watch polls the pointer's metadata (a cheap attrs request, no
// body) and reads the version only when the pointer's generation changes.
// See docs/rules.md.
package rulestore
