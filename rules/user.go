package rules

import "time"

// User is the user view rules see as `user`: traits from identify calls and
// statistics from the `stats` pipeline, both read from Bigtable `users`.
// A user the platform has never seen is the zero User, not an error.
type User struct {
	Traits map[string]any `json:"traits"`
	Stats  Stats          `json:"stats"`
}

// Counters are the per-period counts of a user's activity.
type Counters struct {
	Events      int64 `json:"events"`
	AppOpens    int64 `json:"app_opens"`
	AdsWatched  int64 `json:"ads_watched"`
	AdsSkipped  int64 `json:"ads_skipped"`
	AdsClicked  int64 `json:"ads_clicked"`
	CardsPlayed int64 `json:"cards_played"`
}

// Stats are `user.stats` in rules: counters of the current hour, day, month
// and year (UTC), plus engagement facts.
type Stats struct {
	Hourly         Counters  `json:"hourly"`
	Daily          Counters  `json:"daily"`
	Monthly        Counters  `json:"monthly"`
	Yearly         Counters  `json:"yearly"`
	LastEngagement time.Time `json:"last_engagement,omitzero"`
	FirstSeen      time.Time `json:"first_seen,omitzero"`
	// RegularPlayer is set by the stats pipeline for users who played on
	// most days of the last weeks.
	RegularPlayer bool `json:"regular_player"`
}
