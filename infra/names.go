// Package infra holds the one definition of resource names that both the
// terraform in this folder (through jsondecode(file("names.json"))) and the Go
// code use, so a topic or table is never spelled two ways.
package infra

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

//go:embed names.json
var namesJSON []byte

// Names are the resource names of one deployment.
type Names struct {
	ProjectLocal  string       `json:"project_local"`
	Topics        Topics       `json:"topics"`
	Subscriptions Subs         `json:"subscriptions"`
	Tables        Tables       `json:"tables"`
	Families      Families     `json:"families"`
	GC            GC           `json:"gc"`
	Buckets       Buckets      `json:"buckets"`
	LakePrefixes  LakePrefixes `json:"lake_prefixes"`
	RulesObjects  RulesObjects `json:"rules_objects"`
}

type Topics struct {
	Events           string `json:"events"`
	EventsDLQ        string `json:"events_dlq"`
	ActivationPrefix string `json:"activation_prefix"`
	// ActivationDLQSuffix names the dead-letter topic of an activation
	// subscription: messages `activate` could not ack after the retry budget.
	ActivationDLQSuffix string `json:"activation_dlq_suffix"`
}

type Subs struct {
	Classify         string `json:"classify"`
	Lake             string `json:"lake"`
	EventsDLQ        string `json:"events_dlq"`
	ActivationSuffix string `json:"activation_suffix"`
	// DLQStoreSuffix names the subscription that keeps a dead-letter topic's
	// messages until an operator redrives them.
	DLQStoreSuffix string `json:"dlq_store_suffix"`
}

type Tables struct {
	Users    string `json:"users"`
	Profiles string `json:"profiles"`
}

type Families struct {
	Traits string `json:"traits"`
	Stats  string `json:"stats"`
	Seg    string `json:"seg"`
	Meta   string `json:"meta"`
}

// GC are the Bigtable garbage-collection policies per family.
type GC struct {
	TraitsMaxAgeHours int `json:"traits_max_age_hours"`
	StatsMaxVersions  int `json:"stats_max_versions"`
	SegMaxVersions    int `json:"seg_max_versions"`
	MetaMaxVersions   int `json:"meta_max_versions"`
}

type Buckets struct {
	Lake  string `json:"lake"`
	Rules string `json:"rules"`
	// Failover is the collector's failover bucket in the standby region
	// (terraform prefixes bucket names with the project; local uses them as is).
	Failover string `json:"failover"`
	// Artifacts holds flex-template specs and Dataflow staging/temp files.
	Artifacts string `json:"artifacts"`
}

type LakePrefixes struct {
	Raw        string `json:"raw"`
	Failover   string `json:"failover"`
	Events     string `json:"events"`
	Badrows    string `json:"badrows"`
	Vendor     string `json:"vendor"`
	Deadletter string `json:"deadletter"`
	// Staging holds the lake writer's per-bundle parts until they are
	// rolled into raw/ objects; nothing outside the writer reads it.
	Staging string `json:"staging"`
}

// RulesObjects are the object names of the rules repository in the rules bucket.
type RulesObjects struct {
	Current        string `json:"current"`
	VersionsPrefix string `json:"versions_prefix"`
	HistoryPrefix  string `json:"history_prefix"`
}

// Default returns the names of names.json. It panics only if the embedded file
// is malformed, which a test in this package rules out.
func Default() Names {
	n, err := Parse(namesJSON)
	if err != nil {
		panic(err)
	}
	return n
}

// Parse decodes a names document.
func Parse(b []byte) (Names, error) {
	var n Names
	if err := json.Unmarshal(b, &n); err != nil {
		return Names{}, fmt.Errorf("infra: parse names: %w", err)
	}
	return n, nil
}

// ActivationTopic is the Pub/Sub topic that carries a partner's profile changes.
func (n Names) ActivationTopic(partner string) string {
	return n.Topics.ActivationPrefix + partner
}

// ActivationSubscription is the subscription `activate` reads for a partner.
func (n Names) ActivationSubscription(partner string) string {
	return n.ActivationTopic(partner) + n.Subscriptions.ActivationSuffix
}

// ActivationDLQTopic is the dead-letter topic of a partner's activation subscription.
func (n Names) ActivationDLQTopic(partner string) string {
	return n.ActivationTopic(partner) + n.Topics.ActivationDLQSuffix
}
