package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentflow/segmentflow/io/partner"
	"github.com/segmentflow/segmentflow/rules"
)

// Partner behaviours.
const (
	healthy = "healthy" // 200 after verifying the signature
	down    = "down"    // 503 to everything
	hanging = "hanging" // holds every request until the client gives up
)

// receiver is one partner's endpoint. It verifies every signature (as a
// partner must) and records, per accepted change, how long after its
// publication it arrived (the change's received_at is set at publication).
type receiver struct {
	*httptest.Server
	key      []byte
	behave   atomic.Value // string
	requests atomic.Int64
	badSig   atomic.Int64
	mu       sync.Mutex
	delays   []time.Duration
	users    map[string]int64 // last version per user, to count duplicates
	dups     int
}

func newReceiver(key, behaviour string) *receiver {
	r := &receiver{key: []byte(key), users: map[string]int64{}}
	r.behave.Store(behaviour)
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.requests.Add(1)
	switch r.behave.Load().(string) {
	case down:
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	case hanging:
		<-req.Context().Done()
		return
	}
	if !partner.Verify(r.key, body, req.Header.Get(partner.SignatureHeader)) {
		r.badSig.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var batch []rules.Change
	if err := json.Unmarshal(body, &batch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	r.mu.Lock()
	for _, c := range batch {
		if v, ok := r.users[c.UserID]; ok && v >= c.Version {
			r.dups++
		}
		r.users[c.UserID] = max(r.users[c.UserID], c.Version)
		r.delays = append(r.delays, now.Sub(c.ReceivedAt))
	}
	r.mu.Unlock()
}

// take returns the delays recorded since the last call and clears them.
func (r *receiver) take() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.delays
	r.delays = nil
	return d
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.delays)
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
