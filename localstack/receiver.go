package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/segmentflow/segmentflow/io/partner"
	"github.com/segmentflow/segmentflow/rules"
)

// receiverUsers bounds how many users' last change a receiver remembers
// (for LastChange), so hours of traffic do not grow it.
const receiverUsers = 100_000

// Receiver is a local stand-in for a partner's webhook: it checks the HMAC
// signature as a real partner must, logs and counts what it gets, and
// measures collector-to-partner latency from each change's received_at.
type Receiver struct {
	Partner string
	// URL is the endpoint activate posts to.
	URL string

	key []byte
	log *slog.Logger
	// level of the per-change log line: Info for hand-sent traffic, Debug
	// under the generator (the status line counts those).
	level   slog.Level
	lat     *latency
	srv     *http.Server
	served  chan error
	last    *lru.Cache[string, rules.Change]
	changes atomic.Int64
	posts   atomic.Int64
	badSig  atomic.Int64
}

// startReceiver listens on addr and serves path (the partner endpoint's path).
func startReceiver(id, addr, path string, key []byte, lat *latency, level slog.Level, log *slog.Logger) (*Receiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("localstack: receiver %s: listen %s: %w", id, addr, err)
	}
	cache, err := lru.New[string, rules.Change](receiverUsers)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("localstack: receiver %s: %w", id, err)
	}
	if path == "" {
		path = "/"
	}
	r := &Receiver{
		Partner: id, URL: "http://" + ln.Addr().String() + path,
		key: key, log: log.With("partner", id), level: level, lat: lat, last: cache, served: make(chan error, 1),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+path, r.receive)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		err := r.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		r.served <- err
	}()
	return r, nil
}

func (r *Receiver) receive(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if len(r.key) > 0 && !partner.Verify(r.key, body, req.Header.Get(partner.SignatureHeader)) {
		// Refused as a partner would: activate dead-letters a 4xx at once,
		// so a key mismatch shows on the status line instead of retrying.
		r.badSig.Add(1)
		r.log.Warn("receiver: bad signature", "delivery", req.Header.Get(partner.DeliveryHeader))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	changes, err := decodeChanges(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	for _, c := range changes {
		if !c.ReceivedAt.IsZero() {
			r.lat.observe(now.Sub(c.ReceivedAt))
		}
		if prev, ok := r.last.Peek(c.UserID); !ok || prev.Version < c.Version {
			r.last.Add(c.UserID, c)
		}
		r.log.Log(req.Context(), r.level, "partner received", "user", c.UserID, "segments", c.Segments, "added", c.Added, "removed", c.Removed, "version", c.Version)
	}
	r.posts.Add(1)
	r.changes.Add(int64(len(changes)))
	w.WriteHeader(http.StatusNoContent)
}

// decodeChanges reads a batch (JSON array) or a single change.
func decodeChanges(body []byte) ([]rules.Change, error) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var cs []rules.Change
		if err := json.Unmarshal(body, &cs); err != nil {
			return nil, fmt.Errorf("decode batch: %w", err)
		}
		return cs, nil
	}
	var c rules.Change
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("decode change: %w", err)
	}
	return []rules.Change{c}, nil
}

// Changes is the number of changes accepted so far.
func (r *Receiver) Changes() int64 { return r.changes.Load() }

// BadSignatures is the number of requests refused for their signature.
func (r *Receiver) BadSignatures() int64 { return r.badSig.Load() }

// LastChange is the latest change received for user.
func (r *Receiver) LastChange(user string) (rules.Change, bool) { return r.last.Get(user) }

func (r *Receiver) shutdown(ctx context.Context) error {
	if err := r.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("localstack: receiver %s: %w", r.Partner, err)
	}
	return <-r.served
}
