package activate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/segmentflow/segmentflow/io/partner"
)

// Config is the deployment config of activate (docs/activate.md): limits for
// every partner, and per partner its secrets and overrides. Secrets live
// here, never in the rule set.
type Config struct {
	// Defaults apply to every partner; a partner entry overrides any field.
	Defaults Limits `json:"defaults"`
	// Partners maps a partner id to its settings.
	Partners map[string]PartnerConfig `json:"partners"`
}

// Limits are the delivery settings of one partner.
type Limits struct {
	// Concurrency is the number of delivery lanes (requests in flight). A
	// user always goes to the same lane, which keeps its changes in order.
	Concurrency int `json:"concurrency"`
	// Rate is the request rate limit per second (0: unlimited); Burst its bucket.
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
	// BatchCount, BatchBytes and BatchWait close a batch: whichever comes first.
	BatchCount int      `json:"batch_count"`
	BatchBytes int      `json:"batch_bytes"`
	BatchWait  Duration `json:"batch_wait"`
	// BatchMode "array" POSTs a batch as one JSON array; "single" POSTs
	// each change on its own.
	BatchMode string `json:"batch_mode"`
	// Timeout bounds one request.
	Timeout Duration `json:"timeout"`
	Retry   Retry    `json:"retry"`
	Breaker Breaker  `json:"breaker"`
	// MaxOutstanding is how many Pub/Sub messages may be held unacked.
	MaxOutstanding int `json:"max_outstanding"`
	// Streams is the number of StreamingPull streams of the partner's
	// subscription. One carries far more than a partner API takes from
	// Google Pub/Sub; the emulator hands out about 100 messages/s per
	// stream, so benchmarks on it need more.
	Streams int `json:"streams"`
	// OrderingCache is how many users' last delivered versions are kept.
	OrderingCache int `json:"ordering_cache"`
	// Format of file drops: "ndjson" or "csv".
	Format string `json:"format"`
}

// Retry is the retry budget of a batch.
type Retry struct {
	Initial     Duration `json:"initial"`
	MaxInterval Duration `json:"max_interval"`
	Multiplier  float64  `json:"multiplier"`
	Jitter      float64  `json:"jitter"`
	// Budget is the longest a batch is retried before it is dead-lettered.
	Budget      Duration `json:"budget"`
	MaxAttempts int      `json:"max_attempts"`
}

// Breaker configures the circuit breaker of a partner.
type Breaker struct {
	// Failures is the number of consecutive failed attempts that opens it.
	Failures int `json:"failures"`
	// OpenFor is how long it stays open before letting probes through.
	OpenFor Duration `json:"open_for"`
	// Probes is how many requests may pass while half-open.
	Probes int `json:"probes"`
}

// PartnerConfig is one partner's entry: secrets, endpoint overrides and
// limits (any Limits field, overriding Defaults).
type PartnerConfig struct {
	// HMACKey signs request bodies; HMACKeyEnv / HMACKeyFile read it from an
	// environment variable or a file (a mounted secret) instead.
	HMACKey     string `json:"hmac_key"`
	HMACKeyEnv  string `json:"hmac_key_env"`
	HMACKeyFile string `json:"hmac_key_file"`
	// AuthHeader is a full header line, e.g. "Authorization: Bearer abc";
	// AuthHeaderEnv reads it from an environment variable.
	AuthHeader    string `json:"auth_header"`
	AuthHeaderEnv string `json:"auth_header_env"`
	// Endpoint and Path override the rule set's (e.g. a staging endpoint).
	Endpoint string `json:"endpoint"`
	Path     string `json:"path"`
	Limits
}

// DefaultLimits are used for every field a config leaves out.
var DefaultLimits = Limits{
	Concurrency:    4,
	Burst:          10,
	BatchCount:     100,
	BatchBytes:     1 << 20,
	BatchWait:      Duration(100 * time.Millisecond),
	BatchMode:      "array",
	Timeout:        Duration(10 * time.Second),
	MaxOutstanding: 1000,
	Streams:        1,
	OrderingCache:  100_000,
	Format:         partner.FormatNDJSON,
	Retry: Retry{
		Initial:     Duration(500 * time.Millisecond),
		MaxInterval: Duration(30 * time.Second),
		Multiplier:  2,
		Jitter:      0.5,
		Budget:      Duration(10 * time.Minute),
	},
	Breaker: Breaker{Failures: 5, OpenFor: Duration(10 * time.Second), Probes: 1},
}

// LoadConfig reads a config file (YAML or JSON). An empty path gives the defaults.
func LoadConfig(path string) (Config, error) {
	if path == "" {
		return ParseConfig(nil)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("activate: read config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("activate: config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes a config document. Unknown keys are refused, so a
// misspelt limit is not silently ignored. Each partner entry is decoded over
// the defaults, which is what makes its fields overrides.
func ParseConfig(data []byte) (Config, error) {
	var raw struct {
		Defaults json.RawMessage            `json:"defaults"`
		Partners map[string]json.RawMessage `json:"partners"`
	}
	if len(bytes.TrimSpace(data)) > 0 {
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return Config{}, fmt.Errorf("parse: %w", err)
		}
		if err := strictDecode(j, &raw); err != nil {
			return Config{}, err
		}
	}
	c := Config{Defaults: DefaultLimits, Partners: map[string]PartnerConfig{}}
	if len(raw.Defaults) > 0 && string(raw.Defaults) != "null" {
		if err := strictDecode(raw.Defaults, &c.Defaults); err != nil {
			return Config{}, fmt.Errorf("defaults: %w", err)
		}
	}
	for id, r := range raw.Partners {
		pc := PartnerConfig{Limits: c.Defaults}
		if err := strictDecode(r, &pc); err != nil {
			return Config{}, fmt.Errorf("partner %s: %w", id, err)
		}
		if err := pc.Limits.check(); err != nil {
			return Config{}, fmt.Errorf("partner %s: %w", id, err)
		}
		c.Partners[id] = pc
	}
	if err := c.Defaults.check(); err != nil {
		return Config{}, fmt.Errorf("defaults: %w", err)
	}
	return c, nil
}

func strictDecode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

func (l Limits) check() error {
	var errs []error
	if l.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d: want >= 1", l.Concurrency))
	}
	if l.Streams < 1 {
		errs = append(errs, fmt.Errorf("streams %d: want >= 1", l.Streams))
	}
	if l.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate %v: want >= 0", l.Rate))
	}
	if l.BatchCount < 1 || l.BatchBytes < 1 {
		errs = append(errs, errors.New("batch_count and batch_bytes must be >= 1"))
	}
	if l.BatchMode != "array" && l.BatchMode != "single" {
		errs = append(errs, fmt.Errorf("batch_mode %q: want array or single", l.BatchMode))
	}
	if l.Timeout <= 0 {
		errs = append(errs, errors.New("timeout must be > 0"))
	}
	if l.MaxOutstanding < l.BatchCount {
		errs = append(errs, fmt.Errorf("max_outstanding %d is below batch_count %d", l.MaxOutstanding, l.BatchCount))
	}
	if l.OrderingCache < l.Concurrency {
		errs = append(errs, fmt.Errorf("ordering_cache %d: want >= concurrency", l.OrderingCache))
	}
	return errors.Join(errs...)
}

// For returns the settings of partner id (the defaults when it has no entry).
func (c Config) For(id string) PartnerConfig {
	if pc, ok := c.Partners[id]; ok {
		return pc
	}
	return PartnerConfig{Limits: c.Defaults}
}

// Key resolves the HMAC key (inline, environment or file).
func (pc PartnerConfig) Key() ([]byte, error) {
	switch {
	case pc.HMACKey != "":
		return []byte(pc.HMACKey), nil
	case pc.HMACKeyEnv != "":
		v, ok := os.LookupEnv(pc.HMACKeyEnv)
		if !ok || v == "" {
			return nil, fmt.Errorf("hmac key: environment variable %s is not set", pc.HMACKeyEnv)
		}
		return []byte(v), nil
	case pc.HMACKeyFile != "":
		b, err := os.ReadFile(pc.HMACKeyFile)
		if err != nil {
			return nil, fmt.Errorf("hmac key: %w", err)
		}
		return bytes.TrimRight(b, "\r\n"), nil
	}
	return nil, nil
}

// Headers resolves the auth header into a header map.
func (pc PartnerConfig) Headers() (map[string]string, error) {
	line := pc.AuthHeader
	if pc.AuthHeaderEnv != "" {
		line = os.Getenv(pc.AuthHeaderEnv)
		if line == "" {
			return nil, fmt.Errorf("auth header: environment variable %s is not set", pc.AuthHeaderEnv)
		}
	}
	if line == "" {
		return nil, nil
	}
	k, v, ok := strings.Cut(line, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return nil, errors.New(`auth header: want "Name: value"`)
	}
	return map[string]string{strings.TrimSpace(k): strings.TrimSpace(v)}, nil
}

func (r Retry) policy() partner.RetryPolicy {
	return partner.RetryPolicy{
		InitialInterval: time.Duration(r.Initial),
		MaxInterval:     time.Duration(r.MaxInterval),
		Multiplier:      r.Multiplier,
		Jitter:          r.Jitter,
		MaxElapsed:      time.Duration(r.Budget),
		MaxAttempts:     r.MaxAttempts,
	}
}

// Duration is a time.Duration written as a Go duration string ("250ms",
// "10s") or a number of seconds.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration %s: want a string like \"2s\" or seconds", b)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}
