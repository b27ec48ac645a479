package event

import (
	"fmt"
	"strings"
)

// Code is the machine-readable reason a message was refused. Bad-row sinks
// and the collector's per-message errors carry it so rejects can be counted
// and replayed by kind.
type Code string

// Reasons a message is refused.
const (
	CodeInvalidJSON      Code = "invalid_json"
	CodeInvalidUTF8      Code = "invalid_utf8"
	CodeMissingField     Code = "missing_field"
	CodeWrongType        Code = "wrong_type"
	CodeInvalidTimestamp Code = "invalid_timestamp"
	CodeUnknownType      Code = "unknown_type"
	CodeTooLarge         Code = "too_large"
)

// FieldError is one problem with one field of a message.
type FieldError struct {
	Field   string `json:"field"`
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s: %s", e.Field, e.Code, e.Message)
}

// ValidationError lists every problem found in one message, so a client sees
// all of them at once rather than one per retry.
type ValidationError struct {
	Errors []FieldError `json:"errors"`
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Error()
	}
	return "invalid message: " + strings.Join(parts, "; ")
}

// Code returns the code of the first problem, the one bad-row stores key by.
func (e *ValidationError) Code() Code {
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

func (e *ValidationError) add(field string, code Code, format string, args ...any) {
	e.Errors = append(e.Errors, FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (e *ValidationError) errOrNil() error {
	if e == nil || len(e.Errors) == 0 {
		return nil
	}
	return e
}

// ReasonCode extracts the Code of an error returned by this package, or
// CodeInvalidJSON for anything else.
func ReasonCode(err error) Code {
	switch e := err.(type) {
	case *ValidationError:
		return e.Code()
	case FieldError:
		return e.Code
	}
	return CodeInvalidJSON
}
