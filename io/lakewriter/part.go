package lakewriter

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Record is one message for the lake.
type Record struct {
	// ID is the Pub/Sub message id; it names the record in bad rows.
	ID string
	// Data is the message body: one JSON value (the normalized event).
	Data []byte
	// PublishMillis is when Pub/Sub accepted the message (Unix ms), for the
	// publish-to-commit lag.
	PublishMillis int64
}

// part accumulates one bundle's lines of one stream as a gzip member.
type part struct {
	buf    bytes.Buffer
	zw     *gzip.Writer
	events int
	minPub int64
}

func newPart() *part {
	p := &part{}
	// BestSpeed: the lake is written once and read by batch jobs; the
	// writer's CPU is what limits throughput (docs/lake.md has the numbers).
	p.zw, _ = gzip.NewWriterLevel(&p.buf, gzip.BestSpeed)
	return p
}

func (p *part) reset() {
	p.buf.Reset()
	p.zw.Reset(&p.buf)
	p.events, p.minPub = 0, 0
}

func (p *part) add(line []byte, publishMillis int64) error {
	if _, err := p.zw.Write(line); err != nil {
		return err
	}
	if _, err := p.zw.Write([]byte{'\n'}); err != nil {
		return err
	}
	p.events++
	if publishMillis > 0 && (p.minPub == 0 || publishMillis < p.minPub) {
		p.minPub = publishMillis
	}
	return nil
}

// finish closes the gzip member and returns its bytes.
func (p *part) finish() ([]byte, error) {
	if err := p.zw.Close(); err != nil {
		return nil, err
	}
	return p.buf.Bytes(), nil
}

// lakeLine is the NDJSON line of a record: its JSON on one line. A body
// that is not one JSON value is refused with the reason.
func lakeLine(data []byte) ([]byte, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("empty body")
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("body is not one JSON value")
	}
	if bytes.ContainsAny(data, "\r\n") {
		var c bytes.Buffer
		if err := json.Compact(&c, data); err != nil {
			return nil, fmt.Errorf("compact body: %w", err)
		}
		return c.Bytes(), nil
	}
	return data, nil
}

// badRow is the line kept for a record that could not go to the lake as is.
type badRow struct {
	Reason      string `json:"reason"`
	MessageID   string `json:"message_id"`
	PublishTime string `json:"publish_time,omitempty"`
	// Payload is the original body, base64, since it may not be text.
	Payload string `json:"payload"`
}

func badRowLine(r Record, reason error) []byte {
	br := badRow{Reason: reason.Error(), MessageID: r.ID, Payload: base64.StdEncoding.EncodeToString(r.Data)}
	if r.PublishMillis > 0 {
		br.PublishTime = time.UnixMilli(r.PublishMillis).UTC().Format(time.RFC3339Nano)
	}
	b, _ := json.Marshal(br) // strings only: cannot fail
	return b
}
