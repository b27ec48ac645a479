package rulestore

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned when there is no current version yet or the
// requested version does not exist.
var ErrNotFound = errors.New("rulestore: not found")

// ConflictError means the caller's view of the current version is stale:
// someone published since. The REST API turns it into 409 with Current.
type ConflictError struct {
	// Current is the version that is current now (0: none yet).
	Current int64
	// Expected is the version the caller based its change on.
	Expected int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("rulestore: conflict: expected current version %d, but it is %d", e.Expected, e.Current)
}

// InvalidError wraps why a document was refused before anything was written
// (it does not parse or does not compile; Err is then a *rules.CompileError).
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return "rulestore: invalid rule set: " + e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }
