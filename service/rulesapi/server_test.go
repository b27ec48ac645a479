package rulesapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/emulators/emulatortest"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/rulestore"
)

const gameYAML = `
segments:
  - id: engaged
  - id: ad-clicker
    parent: engaged
    group: ads
  - id: ad-skipper
    group: ads
rules:
  - id: clicks-ads
    segment: ad-clicker
    events: [user-clicked-on-ad]
    when: 'event.name == "user-clicked-on-ad" && user.stats.daily.ads_watched >= 3'
  - id: skips-ads
    segment: ad-skipper
    events: [user-skipped-ad]
    when: 'true'
partners:
  - id: dsp-a
    segments: [ad-clicker]
    endpoint: https://partner.example/segments
`

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path, token string, body string, hdr ...string) (int, http.Header, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(bytes.TrimSpace(b)) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatalf("%s %s: bad JSON %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, resp.Header, m
}

func newServer(t *testing.T) client {
	t.Helper()
	g := emulatortest.GCS(t, "")
	names := infra.Default()
	emulatortest.Provision(t, emulators.Config{Project: "test", Names: names}, nil, nil, g)
	sc := emulatortest.StorageClient(t, g)
	auth, err := NewAuth([]Credential{
		{Token: "pub", Role: "publisher", Name: "alice"},
		{Token: "ed", Role: "editor", Name: "eddie"},
		{Token: "view", Role: "viewer", Name: "vera"},
		{User: "bob", Password: "pw", Role: "publisher"},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{
		Store: rulestore.New(sc, names.Buckets.Rules), Auth: auth,
		Console: fstest.MapFS{"index.html": {Data: []byte("<!doctype html><title>console</title>")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return client{t: t, base: hs.URL}
}

func TestAuthAndRoles(t *testing.T) {
	c := newServer(t)
	if code, h, _ := c.do("GET", "/v1/rulesets", "", ""); code != 401 || h.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d", code)
	}
	if code, _, _ := c.do("GET", "/v1/rulesets", "wrong", ""); code != 401 {
		t.Fatalf("bad token: %d", code)
	}
	if code, _, _ := c.do("PUT", "/v1/rulesets/current", "view", gameYAML, "If-Match", `"0"`); code != 403 {
		t.Fatalf("viewer publish: %d", code)
	}
	if code, _, _ := c.do("PUT", "/v1/rulesets/current", "ed", gameYAML, "If-Match", `"0"`); code != 403 {
		t.Fatalf("editor publish: %d", code)
	}
	if code, _, _ := c.do("POST", "/v1/rulesets:validate", "view", gameYAML); code != 200 {
		t.Fatalf("viewer validate: %d", code)
	}
	if code, _, _ := c.do("POST", "/v1/rulesets:test", "view", `{"ruleset":"x","event":{}}`); code != 403 {
		t.Fatalf("viewer test: %d", code)
	}
	// Basic auth works too.
	req, _ := http.NewRequest("GET", c.base+"/v1/whoami", nil)
	req.SetBasicAuth("bob", "pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var who map[string]string
	json.NewDecoder(resp.Body).Decode(&who)
	resp.Body.Close()
	if who["name"] != "bob" || who["role"] != "publisher" {
		t.Fatalf("whoami = %v", who)
	}
	// Health, metrics and the console need no token.
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/"} {
		if code, _, _ := c.do("GET", p, "", ""); code != 200 {
			t.Errorf("GET %s: %d", p, code)
		}
	}
}

func TestPublishFlow(t *testing.T) {
	c := newServer(t)
	if code, _, _ := c.do("GET", "/v1/rulesets/current", "view", ""); code != 404 {
		t.Fatalf("current before publish: %d", code)
	}
	if code, _, m := c.do("PUT", "/v1/rulesets/current", "pub", gameYAML); code != 428 {
		t.Fatalf("publish without expected version: %d %v", code, m)
	}
	code, h, m := c.do("PUT", "/v1/rulesets/current?message=first", "pub", gameYAML, "If-Match", `"0"`, "Content-Type", "application/yaml")
	if code != 201 || h.Get("ETag") != `"1"` || m["version"] != float64(1) || m["created_by"] != "alice" || m["message"] != "first" {
		t.Fatalf("publish: %d %v %v", code, h.Get("ETag"), m)
	}
	code, h, m = c.do("GET", "/v1/rulesets/current", "view", "")
	if code != 200 || h.Get("ETag") != `"1"` || m["ruleset"].(map[string]any)["rules"].([]any)[0].(map[string]any)["id"] != "clicks-ads" {
		t.Fatalf("current: %d %v", code, m)
	}

	// A stale editor gets 409 with the current version.
	code, _, m = c.do("PUT", "/v1/rulesets/current", "pub", `{"ruleset":`+jsonString(gameYAML)+`,"expected_version":0}`, "Content-Type", "application/json")
	if code != 409 || m["current_version"] != float64(1) || m["code"] != "conflict" {
		t.Fatalf("stale publish: %d %v", code, m)
	}

	// A type error is refused with the rule and position.
	bad := strings.Replace(gameYAML, "ads_watched >= 3", `ads_watched >= "3"`, 1)
	code, _, m = c.do("PUT", "/v1/rulesets/current", "pub", bad, "If-Match", `"1"`)
	if code != 422 {
		t.Fatalf("invalid publish: %d %v", code, m)
	}
	p := m["problems"].([]any)[0].(map[string]any)
	if p["rule"] != "clicks-ads" || p["line"] != float64(1) || p["column"].(float64) < 40 {
		t.Fatalf("problem = %v", p)
	}

	// Envelope form publishes v2 on v1.
	v2 := strings.Replace(gameYAML, ">= 3", ">= 5", 1)
	code, _, m = c.do("PUT", "/v1/rulesets/current", "pub", `{"ruleset":`+jsonString(v2)+`,"expected_version":1,"message":"raise threshold"}`)
	if code != 201 || m["version"] != float64(2) || m["parent"] != float64(1) {
		t.Fatalf("publish v2: %d %v", code, m)
	}

	if code, _, m = c.do("POST", "/v1/rulesets/1:rollback", "pub", `{"expected_version":1}`); code != 409 || m["current_version"] != float64(2) {
		t.Fatalf("stale rollback: %d %v", code, m)
	}
	code, _, m = c.do("POST", "/v1/rulesets/1:rollback", "pub", `{"expected_version":2}`)
	if code != 201 || m["version"] != float64(3) || m["rollback_of"] != float64(1) {
		t.Fatalf("rollback: %d %v", code, m)
	}
	if code, _, _ := c.do("POST", "/v1/rulesets/9:rollback", "pub", `{"expected_version":3}`); code != 404 {
		t.Fatalf("rollback to a missing version: %d", code)
	}
	if code, _, _ := c.do("GET", "/v1/rulesets/2", "view", ""); code != 200 {
		t.Fatalf("get v2: %d", code)
	}
	if code, _, _ := c.do("GET", "/v1/rulesets/4", "view", ""); code != 404 {
		t.Fatalf("get v4: %d", code)
	}

	code, _, m = c.do("GET", "/v1/rulesets", "view", "")
	vs := m["versions"].([]any)
	if code != 200 || len(vs) != 3 || m["current_version"] != float64(3) {
		t.Fatalf("history: %d %v", code, m)
	}
	top := vs[0].(map[string]any)
	if top["action"] != "rollback" || top["author"] != "alice" || vs[1].(map[string]any)["message"] != "raise threshold" {
		t.Fatalf("history entries: %v", vs)
	}
}

func TestValidate(t *testing.T) {
	c := newServer(t)
	code, _, m := c.do("POST", "/v1/rulesets:validate", "view", gameYAML)
	if code != 200 || m["valid"] != true || m["rules"] != float64(2) || m["segments"] != float64(3) {
		t.Fatalf("valid: %d %v", code, m)
	}
	bad := strings.Replace(gameYAML, "user.stats.daily.ads_watched", "user.stats.daily.ads_wached", 1)
	code, _, m = c.do("POST", "/v1/rulesets:validate", "view", `{"ruleset":`+jsonString(bad)+`}`)
	if code != 200 || m["valid"] != false {
		t.Fatalf("invalid: %d %v", code, m)
	}
	p := m["problems"].([]any)[0].(map[string]any)
	if p["rule"] != "clicks-ads" || p["column"] == nil || !strings.Contains(p["message"].(string), "ads_wached") {
		t.Fatalf("problem = %v", p)
	}
	code, _, m = c.do("POST", "/v1/rulesets:validate", "view", "segments: [")
	if code != 200 || m["valid"] != false || len(m["problems"].([]any)) != 1 {
		t.Fatalf("unparsable: %d %v", code, m)
	}
}

func TestDryRun(t *testing.T) {
	c := newServer(t)
	req := map[string]any{
		"ruleset":  gameYAML,
		"event":    map[string]any{"event": "user-clicked-on-ad", "userId": "u1", "timestamp": "2026-01-02T10:00:00Z"},
		"user":     map[string]any{"stats": map[string]any{"daily": map[string]any{"ads_watched": 4}}},
		"segments": []string{"ad-skipper"},
	}
	b, _ := json.Marshal(req)
	code, _, m := c.do("POST", "/v1/rulesets:test", "ed", string(b))
	if code != 200 {
		t.Fatalf("test: %d %v", code, m)
	}
	if m["draft"] != true || m["version"] != float64(1) || m["matched"] != float64(1) || m["interested"] != true {
		t.Fatalf("test summary: %v", m)
	}
	rs := m["rules"].([]any)
	if r0 := rs[0].(map[string]any); r0["id"] != "clicks-ads" || r0["matched"] != true {
		t.Fatalf("rule outcomes: %v", rs)
	}
	if r1 := rs[1].(map[string]any); r1["matched"] != false || r1["filtered"] != true {
		t.Fatalf("rule outcomes: %v", rs)
	}
	// ad-clicker displaces ad-skipper in group ads and brings its parent.
	if got := strings.Join(toStrings(m["added"]), ","); got != "ad-clicker,engaged" {
		t.Fatalf("added = %v", got)
	}
	if got := strings.Join(toStrings(m["removed"]), ","); got != "ad-skipper" {
		t.Fatalf("removed = %v", got)
	}
	pc := m["partner_changes"].(map[string]any)["dsp-a"].(map[string]any)
	if pc["user_id"] != "u1" || strings.Join(toStrings(pc["added"]), ",") != "ad-clicker" {
		t.Fatalf("partner change = %v", pc)
	}

	// Not enough ads watched: nothing matches, nothing changes.
	req["user"] = map[string]any{"stats": map[string]any{"daily": map[string]any{"ads_watched": 1}}}
	b, _ = json.Marshal(req)
	_, _, m = c.do("POST", "/v1/rulesets:test", "ed", string(b))
	if m["matched"] != float64(0) || len(m["added"].([]any)) != 0 || m["changed"] != false {
		t.Fatalf("no match: %v", m)
	}

	// A bad event and a draft that does not compile are clear errors.
	if code, _, m := c.do("POST", "/v1/rulesets:test", "ed", `{"ruleset":`+jsonString(gameYAML)+`,"event":{"type":"nope"}}`); code != 400 || m["code"] != "bad_event" {
		t.Fatalf("bad event: %d %v", code, m)
	}
	if code, _, m := c.do("POST", "/v1/rulesets:test", "ed", `{"ruleset":"rules: [{id: x, segment: nope, when: 'true'}]","event":{"event":"a"}}`); code != 422 || len(m["problems"].([]any)) == 0 {
		t.Fatalf("bad draft: %d %v", code, m)
	}
}

func TestSchema(t *testing.T) {
	c := newServer(t)
	c.do("PUT", "/v1/rulesets/current", "pub", strings.Replace(gameYAML, "'true'", `'user.traits.country == "FR"'`, 1), "If-Match", `"0"`)
	code, _, m := c.do("GET", "/v1/schema", "view", "")
	if code != 200 {
		t.Fatalf("schema: %d", code)
	}
	paths := func(key string) string {
		fields, ok := m[key].([]any)
		if !ok {
			t.Fatalf("schema has no %s fields: %v", key, m)
		}
		var out []string
		for _, f := range fields {
			out = append(out, f.(map[string]any)["path"].(string)+":"+f.(map[string]any)["type"].(string))
		}
		return strings.Join(out, " ")
	}
	for key, want := range map[string]string{
		"event":  "event.name:string",
		"stats":  "user.stats.daily.ads_watched:int",
		"traits": "user.traits.country:dyn",
	} {
		if !strings.Contains(paths(key), want) {
			t.Errorf("%s fields %q lack %q", key, paths(key), want)
		}
	}
	var fns []string
	for _, f := range m["functions"].([]any) {
		fns = append(fns, f.(map[string]any)["name"].(string))
	}
	if !strings.Contains(strings.Join(fns, " "), "days_since") {
		t.Errorf("functions %v lack days_since", fns)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
