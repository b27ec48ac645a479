package reconcile

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/segmentflow/segmentflow/event"
)

// Row is one event in the Parquet lake. Times are UTC milliseconds (null
// when the message did not carry them); the free-form maps stay JSON text so
// the schema does not change with the apps' properties.
type Row struct {
	MessageID         string `parquet:"message_id"`
	Type              string `parquet:"type,dict"`
	Event             string `parquet:"event,optional,dict"`
	Name              string `parquet:"name,optional"`
	UserID            string `parquet:"user_id,optional"`
	AnonymousID       string `parquet:"anonymous_id,optional"`
	PreviousID        string `parquet:"previous_id,optional"`
	GroupID           string `parquet:"group_id,optional"`
	EventTime         int64  `parquet:"event_time,timestamp(millisecond)"`
	Timestamp         *int64 `parquet:"timestamp,timestamp(millisecond)"`
	OriginalTimestamp *int64 `parquet:"original_timestamp,timestamp(millisecond)"`
	SentAt            *int64 `parquet:"sent_at,timestamp(millisecond)"`
	ReceivedAt        int64  `parquet:"received_at,timestamp(millisecond)"`
	Source            string `parquet:"source,optional,dict"`
	CollectorNode     string `parquet:"collector_node,optional,dict"`
	ClientIP          string `parquet:"client_ip,optional"`
	Properties        string `parquet:"properties,json"`
	Traits            string `parquet:"traits,json"`
	Context           string `parquet:"context,json"`
}

// toRow flattens a normalized event.
func toRow(e *event.Event) (Row, error) {
	r := Row{
		MessageID:         e.MessageID,
		Type:              string(e.Type),
		Event:             e.Event,
		Name:              e.Name,
		UserID:            e.UserID,
		AnonymousID:       e.AnonymousID,
		PreviousID:        e.PreviousID,
		GroupID:           e.GroupID,
		EventTime:         e.EventTime.UnixMilli(),
		Timestamp:         millis(e.Timestamp),
		OriginalTimestamp: millis(e.OriginalTimestamp),
		SentAt:            millis(e.SentAt),
		ReceivedAt:        e.ReceivedAt.UnixMilli(),
		Source:            e.Source,
	}
	if e.Collector != nil {
		r.CollectorNode, r.ClientIP = e.Collector.Node, e.Collector.ClientIP
	}
	var err error
	if r.Properties, err = jsonText(e.Properties); err != nil {
		return Row{}, fmt.Errorf("reconcile: properties of %s: %w", e.MessageID, err)
	}
	if r.Traits, err = jsonText(e.Traits); err != nil {
		return Row{}, fmt.Errorf("reconcile: traits of %s: %w", e.MessageID, err)
	}
	if r.Context, err = jsonText(e.Context); err != nil {
		return Row{}, fmt.Errorf("reconcile: context of %s: %w", e.MessageID, err)
	}
	return r, nil
}

func millis(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

func jsonText(m map[string]any) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// partition is the event-time directory of an event: date=YYYY-MM-DD/hour=HH.
func partition(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("date=%s/hour=%02d", t.Format("2006-01-02"), t.Hour())
}

// shardName is the object name of one Parquet file within a partition.
func shardName(shard, shards int) string {
	return fmt.Sprintf("part-%05d-of-%05d.parquet", shard, shards)
}
