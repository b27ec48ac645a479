package activate

import (
	"context"
	"time"

	"github.com/segmentflow/segmentflow/io/partner"
	"github.com/segmentflow/segmentflow/rules"
)

// lane batches and delivers the changes of the users hashed to it, one
// batch at a time, so a user's changes reach the partner in version order.
type lane struct {
	l        *loop
	in       chan item
	versions *versions
}

func (ln *lane) run(ctx context.Context) {
	lim := ln.l.lim
	for {
		first, ok := <-ln.in
		if !ok {
			return
		}
		batch := []item{first}
		size := len(first.msg.Data)
		timer := time.NewTimer(time.Duration(lim.BatchWait))
	collect:
		for len(batch) < lim.BatchCount && size < lim.BatchBytes {
			select {
			case it, ok := <-ln.in:
				if !ok {
					break collect
				}
				batch = append(batch, it)
				size += len(it.msg.Data)
			case <-timer.C:
				break collect
			}
		}
		timer.Stop()
		ln.process(ctx, batch)
	}
}

// process delivers one batch and settles every message in it: acked when
// the partner accepted its change (or a newer one of the same user), or
// when it is stored as a dead letter; nacked when shutting down or when the
// dead-letter store failed, so Pub/Sub redelivers it.
func (ln *lane) process(ctx context.Context, batch []item) {
	l := ln.l
	if ctx.Err() != nil {
		for _, it := range batch {
			l.nack(it.msg)
		}
		return
	}
	changes := make([]rules.Change, len(batch))
	for i, it := range batch {
		changes[i] = it.change
	}
	merged, groups := coalesce(changes)
	var send []rules.Change
	var sendGroups [][]int
	for k, c := range merged {
		if ln.versions.stale(c) {
			for _, i := range groups[k] {
				l.ack(batch[i].msg)
			}
			l.m.stale.WithLabelValues(l.id).Add(float64(len(groups[k])))
			continue
		}
		send = append(send, c)
		sendGroups = append(sendGroups, groups[k])
	}
	if len(send) == 0 {
		return
	}
	outcomes := partner.Deliver(ctx, l.retry, send, l.attempt, func(n int, wait time.Duration, err error) {
		l.m.retried.WithLabelValues(l.id).Add(float64(n))
		l.log.Debug("activate: retrying", "partner", l.id, "changes", n, "wait", wait, "err", err)
	})
	type failure struct {
		outcome partner.Outcome
		ks      []int
	}
	failed := map[string]*failure{}
	var order []string
	now := time.Now()
	for k, o := range outcomes {
		g := sendGroups[k]
		switch {
		case o.Err == nil:
			ln.versions.delivered(send[k])
			l.m.delivered.WithLabelValues(l.id).Inc()
			if len(g) > 1 {
				l.m.stale.WithLabelValues(l.id).Add(float64(len(g) - 1))
			}
			for _, i := range g {
				l.m.queueAge.WithLabelValues(l.id).Observe(now.Sub(batch[i].msg.PublishTime).Seconds())
				l.ack(batch[i].msg)
			}
		case ctx.Err() != nil:
			for _, i := range g {
				l.nack(batch[i].msg)
			}
		default:
			key := o.Err.Error()
			if o.Exhausted {
				key = "exhausted:" + key
			}
			f, ok := failed[key]
			if !ok {
				f = &failure{outcome: o}
				failed[key] = f
				order = append(order, key)
			}
			f.ks = append(f.ks, k)
		}
	}
	for _, key := range order {
		f := failed[key]
		cs := make([]rules.Change, len(f.ks))
		var ids []string
		for j, k := range f.ks {
			cs[j] = send[k]
			for _, i := range sendGroups[k] {
				ids = append(ids, batch[i].msg.ID)
			}
		}
		letter := partner.NewLetter(l.id, cs, f.outcome)
		letter.MessageIDs = ids
		name, err := l.dl.Put(ctx, letter)
		for _, k := range f.ks {
			for _, i := range sendGroups[k] {
				if err != nil {
					l.nack(batch[i].msg)
				} else {
					l.ack(batch[i].msg)
				}
			}
		}
		if err != nil {
			l.log.Error("activate: dead-letter store failed; messages nacked for redelivery", "partner", l.id, "err", err)
			continue
		}
		l.m.deadLettered.WithLabelValues(l.id, letter.Reason).Add(float64(len(cs)))
		l.log.Warn("activate: changes dead-lettered", "partner", l.id, "changes", len(cs), "reason", letter.Reason,
			"status", letter.Status, "object", name, "err", letter.Error)
	}
}
