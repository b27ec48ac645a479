package partner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/segmentflow/segmentflow/rules"
)

// Dead-letter reasons.
const (
	// ReasonRejected: the partner refused the change (a 4xx other than 408/429).
	ReasonRejected = "rejected"
	// ReasonExhausted: the retry budget ran out on retryable failures.
	ReasonExhausted = "retries_exhausted"
	// ReasonMalformed: the Pub/Sub message was not a profile change.
	ReasonMalformed = "malformed"
)

// Letter is one dead-letter object: the changes that could not be
// delivered, why, and what the partner answered.
type Letter struct {
	Partner string `json:"partner"`
	Reason  string `json:"reason"`
	// Status and ResponseBody are the partner's last answer (0/"" when it
	// never answered, e.g. timeouts).
	Status       int    `json:"status,omitempty"`
	ResponseBody string `json:"response_body,omitempty"`
	Error        string `json:"error,omitempty"`
	Attempts     int    `json:"attempts,omitempty"`
	// Changes are the undelivered changes (redrive sends them again).
	Changes []rules.Change `json:"changes,omitempty"`
	// Raw is the payload of a malformed message, kept as it came.
	Raw        string    `json:"raw,omitempty"`
	MessageIDs []string  `json:"message_ids,omitempty"`
	At         time.Time `json:"dead_lettered_at"`
}

// NewLetter fills a letter from a delivery failure.
func NewLetter(partner string, changes []rules.Change, o Outcome) Letter {
	l := Letter{Partner: partner, Changes: changes, Attempts: o.Attempts, At: time.Now().UTC(), Reason: ReasonRejected}
	if o.Exhausted {
		l.Reason = ReasonExhausted
	}
	var pe *Error
	if errors.As(o.Err, &pe) {
		l.Status = pe.Status
		l.ResponseBody = pe.Body
	}
	if o.Err != nil {
		l.Error = o.Err.Error()
	}
	return l
}

// DeadLetters is a partner's dead-letter store in GCS:
//
//	gs://LAKE/<deadletter prefix><partner>/YYYY/MM/DD/HHMMSS.nnnnnnnnnZ-<random>.json
//
// one JSON Letter per object.
type DeadLetters struct {
	bucket  *storage.BucketHandle
	name    string
	prefix  string
	partner string
}

// NewDeadLetters returns the store of partner under prefix (e.g.
// "deadletter/") in bucket.
func NewDeadLetters(client *storage.Client, bucket, prefix, partner string) *DeadLetters {
	return &DeadLetters{
		bucket:  client.Bucket(bucket),
		name:    bucket,
		prefix:  strings.TrimSuffix(prefix, "/") + "/" + partner + "/",
		partner: partner,
	}
}

// Location is the gs:// URL of the store.
func (d *DeadLetters) Location() string { return "gs://" + d.name + "/" + d.prefix }

// Put writes l as a new object and returns its name.
func (d *DeadLetters) Put(ctx context.Context, l Letter) (string, error) {
	if l.At.IsZero() {
		l.At = time.Now().UTC()
	}
	l.Partner = d.partner
	body, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return "", fmt.Errorf("partner: encode dead letter: %w", err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := path.Join(d.prefix+l.At.Format("2006/01/02"), l.At.Format("150405.000000000Z")+"-"+hex.EncodeToString(rnd[:])+".json")
	w := d.bucket.Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ContentType = "application/json"
	if _, err := w.Write(body); err != nil {
		_ = w.Close()
		return "", fmt.Errorf("partner: write dead letter %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("partner: write dead letter %s: %w", name, err)
	}
	return name, nil
}

// List returns the names of the stored letters, oldest first.
func (d *DeadLetters) List(ctx context.Context) ([]string, error) {
	it := d.bucket.Objects(ctx, &storage.Query{Prefix: d.prefix})
	var names []string
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("partner: list dead letters %s: %w", d.Location(), err)
		}
		names = append(names, a.Name)
	}
}

// Get reads one letter.
func (d *DeadLetters) Get(ctx context.Context, name string) (Letter, error) {
	r, err := d.bucket.Object(name).NewReader(ctx)
	if err != nil {
		return Letter{}, fmt.Errorf("partner: read dead letter %s: %w", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return Letter{}, fmt.Errorf("partner: read dead letter %s: %w", name, err)
	}
	var l Letter
	if err := json.Unmarshal(b, &l); err != nil {
		return Letter{}, fmt.Errorf("partner: decode dead letter %s: %w", name, err)
	}
	return l, nil
}

// Delete removes a letter (after a successful redrive).
func (d *DeadLetters) Delete(ctx context.Context, name string) error {
	if err := d.bucket.Object(name).Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("partner: delete dead letter %s: %w", name, err)
	}
	return nil
}
