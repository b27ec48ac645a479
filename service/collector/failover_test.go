package collector_test

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/emulators/emulatortest"
	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/service/collector"
)

// load sends 20-event batches from workers until stop is closed and
// records the message ids of every acknowledged (200) request.
type load struct {
	mu      sync.Mutex
	acked   map[string]bool
	refused map[int]int
	wg      sync.WaitGroup
	stop    chan struct{}
}

func startLoad(s *stack, workers int) *load {
	l := &load{acked: map[string]bool{}, refused: map[int]int{}, stop: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				body, ids := batchOf(20)
				req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/batch", bytes.NewReader(body))
				req.SetBasicAuth("key-ios", "")
				resp, err := client.Do(req)
				if err != nil {
					l.mu.Lock()
					l.refused[-1]++
					l.mu.Unlock()
					time.Sleep(10 * time.Millisecond)
					continue
				}
				resp.Body.Close()
				l.mu.Lock()
				if resp.StatusCode == http.StatusOK {
					for _, id := range ids {
						l.acked[id] = true
					}
				} else {
					l.refused[resp.StatusCode]++
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) finish() {
	close(l.stop)
	l.wg.Wait()
}

func TestPubSubDownFailsOverThenReplays(t *testing.T) {
	s := startStack(t, func(c *collector.Config) { c.ReplayInterval = 300 * time.Millisecond })
	first := s.ps
	addr := first.Addr

	l := startLoad(s, 4)
	time.Sleep(400 * time.Millisecond)
	s.stopPubSub() // Pub/Sub goes down mid-run
	time.Sleep(2500 * time.Millisecond)
	l.finish()
	if len(l.refused) != 0 {
		t.Fatalf("requests refused while GCS was up: %v", l.refused)
	}
	onFirst := s.published(first)
	objs := s.objects(s.names.LakePrefixes.Failover)
	if len(objs) == 0 {
		t.Fatal("no failover objects written while Pub/Sub was down")
	}
	held := map[string]bool{}
	for _, o := range objs {
		for _, line := range s.objectLines(o) {
			ev, err := event.Unmarshal(line)
			if err != nil || !ev.Normalized() {
				t.Fatalf("failover line of %s is not a normalized event: %v %s", o, err, line)
			}
			held[ev.MessageID] = true
		}
	}
	t.Logf("acked %d events: %d on the first server, %d in %d failover objects", len(l.acked), len(onFirst), len(held), len(objs))
	for id := range l.acked {
		if _, ok := onFirst[id]; !ok && !held[id] {
			t.Fatalf("acknowledged %s is neither on the topic nor in GCS", id)
		}
	}

	// Recovery: a new server on the same port, topics created again.
	second, err := emulators.StartPubSub(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := emulators.Provision(context.Background(), emulators.Config{Project: project, Names: s.names}, second, nil, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(s.objects(s.names.LakePrefixes.Failover)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("failover objects not replayed: %v", s.objects(s.names.LakePrefixes.Failover))
		}
		time.Sleep(200 * time.Millisecond)
	}
	onSecond := s.published(second)
	total := map[string]bool{}
	for id := range onFirst {
		total[id] = true
	}
	for id, p := range onSecond {
		total[id] = true
		if p.attrs[event.AttrMessageID] != id || p.attrs[event.AttrEventTime] == "" {
			t.Errorf("replayed %s lacks attributes: %v", id, p.attrs)
		}
	}
	for id := range held {
		if _, ok := onSecond[id]; !ok {
			t.Errorf("failover event %s not republished", id)
		}
	}
	for id := range l.acked {
		if !total[id] {
			t.Errorf("acknowledged %s missing from the topic", id)
		}
	}
	for id := range total {
		if !l.acked[id] {
			t.Errorf("%s on the topic was never acknowledged", id)
		}
	}
	if len(total) != len(l.acked) {
		t.Errorf("topic holds %d distinct events, %d acknowledged", len(total), len(l.acked))
	}
	// New traffic goes to the recovered primary again.
	body, ids := batchOf(5)
	deadline = time.Now().Add(20 * time.Second)
	for {
		if got := s.do(request{path: "/v1/batch", key: "key-ios", body: body}); got.status != 200 {
			t.Fatalf("after recovery: %d %s", got.status, got.body)
		}
		if _, ok := s.published(second)[ids[0]]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("traffic never returned to the primary")
		}
		time.Sleep(300 * time.Millisecond)
		body, ids = batchOf(5)
	}
}

func TestBothDownIs503AndNothingAcknowledged(t *testing.T) {
	s := startStack(t, nil)
	s.stopPubSub()
	s.stopGCS()
	body, _ := batchOf(20)
	for _, path := range []string{"/v1/batch", "/v1/batch"} {
		got := s.do(request{path: path, key: "key-ios", body: body})
		if got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") == "" {
			t.Fatalf("%s with Pub/Sub and GCS down: %d %v %s", path, got.status, got.header, got.body)
		}
	}
	got := s.do(request{path: "/v1/track", key: "key-ios", body: []byte(`{"messageId":"one","userId":"u","event":"e"}`)})
	if got.status != http.StatusServiceUnavailable {
		t.Fatalf("track: %d", got.status)
	}
	m := s.do(request{path: "/metrics", method: http.MethodGet})
	if !bytes.Contains(m.body, []byte(`segmentflow_collector_messages_total{outcome="unavailable"} 41`)) {
		t.Errorf("unavailable messages not counted:\n%s", m.body)
	}
}

func TestStandbyTopicBeforeGCS(t *testing.T) {
	standby := emulatortest.PubSub(t)
	s := startStack(t, func(c *collector.Config) {
		c.Standby = collector.Target{Project: project, Endpoint: standby.Addr}
	})
	emulatortest.Provision(t, emulators.Config{Project: project, Names: s.names}, standby, nil, nil)
	s.stopPubSub()
	var all []string
	for range 5 {
		body, ids := batchOf(20)
		if got := s.do(request{path: "/v1/batch", key: "key-ios", body: body}); got.status != 200 {
			t.Fatalf("%d %s", got.status, got.body)
		}
		all = append(all, ids...)
	}
	on := s.published(standby)
	for _, id := range all {
		if _, ok := on[id]; !ok {
			t.Fatalf("%s not on the standby topic", id)
		}
	}
	if objs := s.objects(s.names.LakePrefixes.Failover); len(objs) != 0 {
		t.Errorf("failover objects written although the standby was up: %v", objs)
	}
}

func TestShutdownUnderLoadLosesNothingAcknowledged(t *testing.T) {
	s := startStack(t, func(c *collector.Config) {
		c.Batch.MaxDelay = 50 * time.Millisecond // batches are pending at shutdown
		c.Batch.MaxMessages = 1000
	})
	l := startLoad(s, 6)
	time.Sleep(500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.col.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	l.finish()
	if len(l.acked) == 0 {
		t.Fatal("nothing was acknowledged before shutdown")
	}
	pub := s.published(s.ps)
	for id := range l.acked {
		if _, ok := pub[id]; !ok {
			t.Fatalf("acknowledged %s lost at shutdown (%d acked, %d published)", id, len(l.acked), len(pub))
		}
	}
	if objs := s.objects(s.names.LakePrefixes.Failover); len(objs) != 0 {
		t.Errorf("shutdown wrote failover objects: %v", objs)
	}
	t.Logf("acked %d events before shutdown, all published; refused after: %v", len(l.acked), l.refused)
}
