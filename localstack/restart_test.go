package localstack

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPipelineRestartsLoseNothing sends events while both pipelines are
// cancelled and started again every few seconds (with the Pub/Sub purge on)
// and checks afterwards that every accepted event is in the lake, classify
// and the lake acked every message (acks follow commits, so this is classify
// having processed it), and classify's counter covers them all. What a
// cancelled job had in flight comes back after the 60 s ack deadline, which
// sets most of this test's length (about 2 minutes); it is skipped with
// -short.
func TestPipelineRestartsLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("about 2 minutes of pipeline restarts")
	}
	const restart = 15 * time.Second
	e := startE2E(t, func(c *Config) {
		c.PipelineRestart = restart
		c.PubSubPurge = 5 * time.Second
	})
	st, ctx := e.st, context.Background()

	// Traffic across two scheduled restarts of each job: batches of 10
	// every 250 ms for 2.5 restart periods.
	run := fmt.Sprint(time.Now().UnixNano())
	var sent []string
	until := time.Now().Add(restart*2 + restart/2)
	for i := 0; time.Now().Before(until); i++ {
		var batch []map[string]any
		for j := range 10 {
			id := fmt.Sprintf("r%d-%d-%s", i, j, run)
			user := fmt.Sprintf("restart-user-%d", (i*10+j)%50)
			batch = append(batch, msg("track", id, user, map[string]any{"event": "user-opened-app"}))
			sent = append(sent, id)
		}
		if code, reply := e.batch(batch...); code != http.StatusOK || reply["errors"] != nil {
			t.Fatalf("batch %d: %d %v", i, code, reply)
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, j := range st.jobs {
		if n := j.runs.Load(); n < 3 {
			t.Fatalf("pipeline %s ran %d times during the traffic, want >= 3 (two restarts)", j.name, n)
		}
	}

	events := "/topics/" + st.Names.Topics.Events
	eventually(t, 3*time.Minute, "every event in the lake, acked by both pipelines and counted by classify", func() error {
		ids, err := lakeIDs(ctx, st)
		if err != nil {
			return err
		}
		missing := 0
		for _, id := range sent {
			if !ids[id] {
				missing++
			}
		}
		unacked := 0
		for _, m := range st.PubSub.Server.Messages() {
			if strings.HasSuffix(m.Topic, events) && m.Acks < len(st.jobs) {
				unacked++
			}
		}
		if classified := st.Status().Classified; missing > 0 || unacked > 0 || classified < int64(len(sent)) {
			return fmt.Errorf("of %d sent: %d not in the lake, %d not acked by both pipelines, classify counted %d", len(sent), missing, unacked, classified)
		}
		return nil
	})
	s := st.Status()
	t.Logf("%d events sent; accepted %d, in lake objects %d (with redelivered duplicates), classified %d; runs lake %d classify %d",
		len(sent), s.Accepted, s.InLake, s.Classified, st.jobs[0].runs.Load(), st.jobs[1].runs.Load())
}
