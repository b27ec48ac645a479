package rulestore

import (
	"encoding/json"
	"fmt"
	"time"
)

// pointer is the body of the current-version object.
type pointer struct {
	Version   int64     `json:"version"`
	Object    string    `json:"object"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// versionObject is the body of an immutable version object.
type versionObject struct {
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	Message   string    `json:"message"`
	Parent    int64     `json:"parent"`
	// RollbackOf is the version this one copies when it was made by a rollback.
	RollbackOf int64           `json:"rollback_of,omitempty"`
	RuleSet    json.RawMessage `json:"ruleset"`
}

// HistoryEntry is one audited change of the repository.
type HistoryEntry struct {
	Version int64     `json:"version"`
	Action  string    `json:"action"` // "publish" or "rollback"
	Author  string    `json:"author"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
	Parent  int64     `json:"parent"`
	// RollbackOf is the version a rollback copied.
	RollbackOf int64 `json:"rollback_of,omitempty"`
	// Segments and Rules count what the version holds, for the history view.
	Segments int `json:"segments"`
	Rules    int `json:"rules"`
}

// Actions recorded in history entries.
const (
	ActionPublish  = "publish"
	ActionRollback = "rollback"
)

// Version is one published rule-set version.
type Version struct {
	Number     int64     `json:"version"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by"`
	Message    string    `json:"message"`
	Parent     int64     `json:"parent"`
	RollbackOf int64     `json:"rollback_of,omitempty"`
	// Document is the rule set as JSON (a YAML upload is stored converted).
	Document json.RawMessage `json:"ruleset"`
}

func (v versionObject) toVersion() *Version {
	return &Version{
		Number: v.Version, CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy, Message: v.Message,
		Parent: v.Parent, RollbackOf: v.RollbackOf, Document: v.RuleSet,
	}
}

// objectName is the version object of version n; zero padding keeps the
// bucket listing in version order.
func objectName(prefix string, n int64) string {
	return fmt.Sprintf("%s%07d.json", prefix, n)
}
