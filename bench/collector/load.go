package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is one server under load.
type target struct {
	name     string
	url      string
	writeKey string
}

// result is what one load phase measured.
type result struct {
	requests  int
	failed    int // transport errors and non-200 replies
	elapsed   time.Duration
	latencies []time.Duration // of successful requests
	late      int             // open loop: slots the scheduler itself reached more than 1 ms late
}

func (r result) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	s := slices.Clone(r.latencies)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// loader posts the prepared bodies to a target over kept-alive connections.
type loader struct {
	client *http.Client
	bodies [][]byte
	next   atomic.Uint64
}

func newLoader(bodies [][]byte, conns int) *loader {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &loader{client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, bodies: bodies}
}

// post sends one batch and reports whether the reply was 200.
func (l *loader) post(ctx context.Context, t target) bool {
	body := l.bodies[l.next.Add(1)%uint64(len(l.bodies))]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(t.writeKey, "")
	resp, err := l.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// closed runs workers that each send as fast as replies come back: the
// highest request rate the target sustains with that many clients.
func (l *loader) closed(ctx context.Context, t target, workers int, d time.Duration) result {
	// Requests in flight at the end are let finish and counted, so the
	// collector's topic holds exactly the events of the counted requests.
	end := time.Now().Add(d)
	var (
		mu  sync.Mutex
		res result
		wg  sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			n, failed := 0, 0
			for time.Now().Before(end) {
				t0 := time.Now()
				ok := l.post(ctx, t)
				n++
				if ok {
					lat = append(lat, time.Since(t0))
				} else {
					failed++
				}
			}
			mu.Lock()
			res.requests += n
			res.failed += failed
			res.latencies = append(res.latencies, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// open sends at a fixed rate whatever the replies do (no coordinated
// omission): each request has a slot on the schedule, and its latency is
// counted from that slot, so a stalled server shows up as latency rather
// than as a lower offered rate.
func (l *loader) open(ctx context.Context, t target, rate float64, d time.Duration, workers int) result {
	interval := time.Duration(float64(time.Second) / rate)
	total := int(d / interval)
	slots := make(chan time.Time, total)
	var (
		mu  sync.Mutex
		res result
		wg  sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			n, failed := 0, 0
			for slot := range slots {
				ok := l.post(ctx, t)
				n++
				if ok {
					lat = append(lat, time.Since(slot))
				} else {
					failed++
				}
			}
			mu.Lock()
			res.requests += n
			res.failed += failed
			res.latencies = append(res.latencies, lat...)
			mu.Unlock()
		}()
	}
	start := time.Now()
	for i := range total {
		slot := start.Add(time.Duration(i) * interval)
		if w := time.Until(slot); w > 0 {
			time.Sleep(w)
		} else if w < -time.Millisecond {
			res.late++
		}
		slots <- slot
	}
	close(slots)
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func (r result) String() string {
	return fmt.Sprintf("%d req in %.1fs (%d failed)", r.requests, r.elapsed.Seconds(), r.failed)
}
