package partner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/segmentflow/segmentflow/rules"
)

// MaxResponseBody bounds how much of a partner's response is kept.
const MaxResponseBody = 4 << 10

// DeliveryHeader carries a stable id of the request body (hex SHA-256), the
// same on every retry of the same payload, so partners can drop repeats.
const DeliveryHeader = "X-Segmentflow-Delivery"

// HTTPConfig configures an HTTPSink.
type HTTPConfig struct {
	// Endpoint is the partner URL changes are POSTed to.
	Endpoint string
	// Key is the HMAC-SHA256 key of X-Segmentflow-Signature. Empty sends no
	// signature (allowed only so tests and local runs work without secrets).
	Key []byte
	// Headers are added to every request, e.g. Authorization.
	Headers map[string]string
	// Timeout bounds one request, response body included. Default 10 s.
	Timeout time.Duration
	// Array selects the body shape: true POSTs the batch as one JSON array of
	// changes; false POSTs each change as its own JSON object.
	Array bool
	// Limiter, when set, is waited on before every request (the partner's
	// rate limit counts requests, whatever their shape).
	Limiter *rate.Limiter
	// Client is the HTTP client; a default one is made when nil. Redirects
	// are never followed: a partner moving its endpoint is a config change.
	Client *http.Client
}

// HTTPSink POSTs changes as JSON to a partner endpoint, signed with HMAC.
type HTTPSink struct {
	cfg    HTTPConfig
	client *http.Client
}

// NewHTTP returns an HTTP sink; it checks the endpoint URL.
func NewHTTP(cfg HTTPConfig) (*HTTPSink, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("partner: endpoint %q is not an http(s) URL", cfg.Endpoint)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	c := cfg.Client
	if c == nil {
		c = &http.Client{}
	}
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &HTTPSink{cfg: cfg, client: &cc}, nil
}

// Connect does nothing: a partner being down at start is not fatal, the
// retries and the breaker deal with it.
func (s *HTTPSink) Connect(context.Context) error { return nil }

// Close releases idle connections.
func (s *HTTPSink) Close(context.Context) error {
	s.client.CloseIdleConnections()
	return nil
}

// WriteBatch POSTs the batch as one array (Array) or each change on its own.
// In per-change mode it stops at the first retryable failure and reports the
// remaining changes as failed alike, so a failing partner gets one request,
// not one per change.
func (s *HTTPSink) WriteBatch(ctx context.Context, changes []rules.Change) error {
	if len(changes) == 0 {
		return nil
	}
	if s.cfg.Array {
		body, err := json.Marshal(changes)
		if err != nil {
			return &Error{Err: fmt.Errorf("encode batch: %w", err)}
		}
		return s.post(ctx, body)
	}
	errs := make([]error, len(changes))
	failed := false
	for i, ch := range changes {
		body, err := json.Marshal(ch)
		if err != nil {
			errs[i] = &Error{Err: fmt.Errorf("encode change: %w", err)}
			failed = true
			continue
		}
		if err := s.post(ctx, body); err != nil {
			errs[i] = err
			failed = true
			if IsRetryable(err) {
				for j := i + 1; j < len(changes); j++ {
					errs[j] = err
				}
				break
			}
		}
	}
	if !failed {
		return nil
	}
	return &BatchError{Errs: errs}
}

func (s *HTTPSink) post(parent context.Context, body []byte) error {
	if s.cfg.Limiter != nil {
		if err := s.cfg.Limiter.Wait(parent); err != nil {
			return &Error{Retryable: parent.Err() == nil, Err: fmt.Errorf("rate limit: %w", err)}
		}
	}
	ctx, cancel := context.WithTimeout(parent, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return &Error{Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "segmentflow-activate")
	sum := sha256.Sum256(body)
	req.Header.Set(DeliveryHeader, hex.EncodeToString(sum[:16]))
	if len(s.cfg.Key) > 0 {
		req.Header.Set(SignatureHeader, Sign(s.cfg.Key, body))
	}
	for k, v := range s.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// Timeouts, refused connections, resets: the partner may be back soon.
		// Only our own shutdown (parent cancelled) is not worth a retry.
		return &Error{Retryable: parent.Err() == nil, Err: err}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return classify(resp.StatusCode, resp.Header.Get("Retry-After"), string(snippet), time.Now())
}

// classify turns a non-2xx response into an *Error: 408, 429 and 5xx are
// retried (429 and 503 honour Retry-After); every other status is a refusal.
func classify(status int, retryAfterHeader, body string, now time.Time) *Error {
	e := &Error{Status: status, Body: body}
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		e.Retryable = true
		e.RetryAfter = parseRetryAfter(retryAfterHeader, now)
	}
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date; zero when absent or
// malformed. It is capped at an hour so a bogus header cannot park a partner.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return min(d, time.Hour)
}
