package collector

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/io/failover"
	"github.com/segmentflow/segmentflow/io/pubsubsink"
)

// badRow is a refused message as stored in the bad-rows sinks: the original
// payload and the typed reason, so rejects can be counted by kind, fixed
// and replayed.
type badRow struct {
	Reason  event.Code         `json:"reason"`
	Errors  []event.FieldError `json:"errors"`
	Payload string             `json:"payload,omitempty"`
	// PayloadBase64 holds a payload that is not valid UTF-8 (JSON strings
	// cannot carry it losslessly).
	PayloadBase64 []byte    `json:"payload_base64,omitempty"`
	Index         int       `json:"index"` // position in the batch; -1 for the whole body
	Endpoint      string    `json:"endpoint"`
	Source        string    `json:"source"`
	Node          string    `json:"node"`
	ClientIP      string    `json:"client_ip,omitempty"`
	ReceivedAt    time.Time `json:"received_at"`
}

func newBadRow(payload []byte, errs []event.FieldError) badRow {
	r := badRow{Errors: errs}
	if len(errs) > 0 {
		r.Reason = errs[0].Code
	}
	if utf8.Valid(payload) {
		r.Payload = string(payload)
	} else {
		r.PayloadBase64 = payload
	}
	return r
}

// badRows writes refused messages to the `events-dlq` topic first and to
// gs://LAKE/badrows/ when the topic cannot take them. The topic is primary
// because it is where operators alert and redrive from; GCS is the fallback
// so that a Pub/Sub outage does not drop them. If both fail the rows are
// logged in full (the client already got its 400 and will not resend).
type badRows struct {
	dlq   *target
	store *failover.Store
	m     *metrics
	log   *slog.Logger
}

func (b *badRows) write(ctx context.Context, rows []badRow) {
	if len(rows) == 0 {
		return
	}
	msgs := make([]pubsubsink.Message, 0, len(rows))
	kept := make([]badRow, 0, len(rows))
	for _, r := range rows {
		data, err := json.Marshal(r)
		if err != nil {
			b.lost(r, err)
			continue
		}
		kept = append(kept, r)
		msgs = append(msgs, pubsubsink.Message{Data: data, Attributes: map[string]string{
			"reason": string(r.Reason), "source": r.Source, "endpoint": r.Endpoint,
			"received_at": r.ReceivedAt.UTC().Format(event.TimeFormat),
		}})
	}
	failed := b.dlq.write(ctx, msgs)
	isFailed := make(map[int]bool, len(failed))
	for _, f := range failed {
		isFailed[f] = true
	}
	for i := range msgs {
		if !isFailed[i] {
			b.m.badRows.WithLabelValues("dlq", string(kept[i].Reason)).Inc()
		}
	}
	if len(failed) == 0 {
		return
	}
	lines := make([][]byte, len(failed))
	for i, f := range failed {
		lines[i] = msgs[f].Data
	}
	if _, err := b.store.Write(ctx, lines); err != nil {
		for _, f := range failed {
			b.lost(kept[f], err)
		}
		return
	}
	for _, f := range failed {
		b.m.badRows.WithLabelValues("gcs", string(kept[f].Reason)).Inc()
	}
}

func (b *badRows) lost(r badRow, err error) {
	b.m.badRows.WithLabelValues("lost", string(r.Reason)).Inc()
	b.log.Error("bad row could not be stored", "err", err, "reason", r.Reason, "source", r.Source,
		"endpoint", r.Endpoint, "payload", r.Payload, "payload_base64", r.PayloadBase64)
}
