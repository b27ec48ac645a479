package rulesapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// change is a publish request. A client sends either the envelope
//
//	{"ruleset": {...} or "yaml text", "expected_version": 3, "message": "why"}
//
// or the bare rule-set document (JSON or YAML) with the expected version in
// If-Match (an ETag of GET /v1/rulesets/current) or ?expected_version=, and
// the message in ?message= or the X-Change-Message header.
type change struct {
	Doc      []byte
	Expected *int64
	Message  string
}

type envelope struct {
	RuleSet  json.RawMessage `json:"ruleset"`
	Expected *int64          `json:"expected_version"`
	Message  string          `json:"message"`
}

func readChange(r *http.Request) (change, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return change{}, fmt.Errorf("read body: %w", err)
	}
	var c change
	if env, ok := asEnvelope(body); ok {
		c = change{Doc: env.doc, Expected: env.Expected, Message: env.Message}
	} else {
		c.Doc = body
	}
	if len(bytes.TrimSpace(c.Doc)) == 0 {
		return change{}, errors.New("the body holds no rule set")
	}
	if c.Message == "" {
		c.Message = r.URL.Query().Get("message")
	}
	if c.Message == "" {
		c.Message = r.Header.Get("X-Change-Message")
	}
	if c.Expected == nil {
		for _, v := range []string{r.Header.Get("If-Match"), r.URL.Query().Get("expected_version")} {
			if v == "" {
				continue
			}
			n, err := parseETag(v)
			if err != nil {
				return change{}, err
			}
			c.Expected = &n
			break
		}
	}
	return c, nil
}

type parsedEnvelope struct {
	envelope
	doc []byte
}

// asEnvelope recognizes a JSON object with a "ruleset" key; the rule set
// inside is an object (JSON) or a string (YAML or JSON text).
func asEnvelope(body []byte) (parsedEnvelope, bool) {
	t := bytes.TrimSpace(body)
	if len(t) == 0 || t[0] != '{' {
		return parsedEnvelope{}, false
	}
	var e envelope
	if err := json.Unmarshal(t, &e); err != nil || len(e.RuleSet) == 0 {
		return parsedEnvelope{}, false
	}
	doc := []byte(e.RuleSet)
	var s string
	if json.Unmarshal(e.RuleSet, &s) == nil {
		doc = []byte(s)
	}
	return parsedEnvelope{envelope: e, doc: doc}, true
}

// parseETag reads `"3"`, `W/"3"` or `3`.
func parseETag(v string) (int64, error) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
	v = strings.Trim(v, `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("expected version %q: want a version number (as GET returns in ETag)", v)
	}
	return n, nil
}

func etag(n int64) string { return `"` + strconv.FormatInt(n, 10) + `"` }

// docOf reads the rule set of a validate request: the envelope's ruleset
// or the bare body.
func docOf(body []byte) []byte {
	if env, ok := asEnvelope(body); ok {
		return env.doc
	}
	return body
}
