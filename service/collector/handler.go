package collector

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/io/pubsubsink"
)

// endpoint is one tracking API call. The short paths (/v1/b, /v1/t, ...)
// are the aliases Segment's browser and mobile SDKs use.
type endpoint struct {
	name  string
	paths []string
	typ   event.Type // "" for batch
}

var endpoints = []endpoint{
	{"batch", []string{"/v1/batch", "/v1/b", "/v1/import"}, ""},
	{"track", []string{"/v1/track", "/v1/t"}, event.Track},
	{"identify", []string{"/v1/identify", "/v1/i"}, event.Identify},
	{"page", []string{"/v1/page", "/v1/p"}, event.Page},
	{"screen", []string{"/v1/screen", "/v1/s"}, event.Screen},
	{"alias", []string{"/v1/alias", "/v1/a"}, event.Alias},
	{"group", []string{"/v1/group", "/v1/g"}, event.Group},
}

// Reply bodies. Success is the Segment reply; a request with refused
// messages lists them (status 200 when some were accepted, 400 when none).
type reply struct {
	Success  bool           `json:"success"`
	Accepted *int           `json:"accepted,omitempty"`
	Rejected *int           `json:"rejected,omitempty"`
	Errors   []messageError `json:"errors,omitempty"`
	Code     string         `json:"code,omitempty"`
	Message  string         `json:"message,omitempty"`
}

type messageError struct {
	Index     int                `json:"index"`
	MessageID string             `json:"messageId,omitempty"`
	Code      event.Code         `json:"code"`
	Errors    []event.FieldError `json:"errors"`
}

func (c *Collector) trackHandler(e endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := c.track(w, r, e)
		c.m.requests.WithLabelValues(e.name, strconv.Itoa(code)).Inc()
		c.m.duration.WithLabelValues(e.name).Observe(time.Since(start).Seconds())
	})
}

// track serves one tracking call and returns the status it wrote.
func (c *Collector) track(w http.ResponseWriter, r *http.Request, e endpoint) int {
	h := w.Header()
	// Browser SDKs post cross-origin; the write key is the credential.
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent
	}
	if r.Method != http.MethodPost {
		h.Set("Allow", "POST, OPTIONS")
		return fail(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
	}
	if c.draining.Load() {
		return c.unavailable(w, "collector is shutting down")
	}
	received := time.Now().UTC()

	var src *source
	key, _, hasBasic := r.BasicAuth()
	if hasBasic && key != "" {
		if src = c.keys[key]; src == nil {
			return fail(w, http.StatusUnauthorized, "unauthorized", "unknown write key")
		}
		if code, ok := c.allow(w, src); !ok {
			return code
		}
	}

	body, err := readBody(w, r, c.cfg.MaxBodyBytes)
	switch {
	case errors.Is(err, errTooLarge):
		return fail(w, http.StatusRequestEntityTooLarge, string(event.CodeTooLarge),
			"body is over the limit of "+strconv.FormatInt(c.cfg.MaxBodyBytes, 10)+" bytes")
	case errors.Is(err, errBadEncoding):
		return fail(w, http.StatusUnsupportedMediaType, "unsupported_encoding", err.Error())
	case err != nil:
		return fail(w, http.StatusBadRequest, "unreadable_body", err.Error())
	}

	var (
		raws []json.RawMessage
		rcv  = event.Received{At: received, Node: c.cfg.Node, IP: c.clientIP(r)}
	)
	if e.typ == "" {
		b, derr := event.DecodeBatch(body)
		if derr == nil && src == nil {
			src = c.keys[b.WriteKey]
		}
		if src == nil {
			return c.noKey(w, hasBasic)
		}
		if derr != nil {
			// Only a Basic-auth key gets here (the body had none to give),
			// and it was rate-checked already.
			return c.refuseBody(w, r, e, src, rcv, body, derr)
		}
		raws, rcv.SentAt, rcv.Context = b.Batch, b.SentAtTime(), b.Context
	} else {
		if src == nil {
			var probe struct {
				WriteKey string `json:"writeKey"`
			}
			_ = json.Unmarshal(body, &probe)
			if src = c.keys[probe.WriteKey]; src == nil {
				return c.noKey(w, hasBasic)
			}
		}
		raws = []json.RawMessage{body}
	}
	if !hasBasic {
		if code, ok := c.allow(w, src); !ok {
			return code
		}
	}
	rcv.Source = src.id
	c.m.batchSize.Observe(float64(len(raws)))

	msgs := make([]pubsubsink.Message, 0, len(raws))
	var bad []badRow
	var errs []messageError
	for i, raw := range raws {
		ev, data, perr := event.Normalize(raw, e.typ, rcv, c.cfg.Limits)
		if perr != nil {
			fes := fieldErrors(perr)
			errs = append(errs, messageError{Index: i, MessageID: probeMessageID(raw), Code: fes[0].Code, Errors: fes})
			row := newBadRow(raw, fes)
			row.Index = i
			bad = append(bad, c.stamp(row, r, e, src, rcv))
			continue
		}
		msgs = append(msgs, pubsubsink.Message{Data: data, Attributes: event.Attributes(&ev)})
	}
	c.m.messages.WithLabelValues(outRejected).Add(float64(len(bad)))

	// Delivery outlives a client that hangs up: once started, the events
	// end up somewhere consistent, whatever the client sees.
	ctx := context.WithoutCancel(r.Context())
	if len(msgs) > 0 {
		if err := c.delivery.deliver(ctx, msgs); err != nil {
			c.log.Warn("request refused: no sink available", "err", err, "source", src.id, "messages", len(msgs))
			// The client resends the whole request, bad rows included, so
			// they are not stored now.
			return c.unavailable(w, "events could not be stored; retry later")
		}
	}
	c.bad.write(ctx, bad)
	if len(errs) == 0 {
		writeOK(w)
		return http.StatusOK
	}
	accepted, rejected := len(msgs), len(errs)
	status := http.StatusOK
	if accepted == 0 {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, reply{Success: false, Accepted: &accepted, Rejected: &rejected, Errors: errs,
		Code: "invalid_messages", Message: strconv.Itoa(rejected) + " message(s) refused"})
	return status
}

// refuseBody answers a body that is not a batch at all and keeps it as a
// bad row.
func (c *Collector) refuseBody(w http.ResponseWriter, r *http.Request, e endpoint, src *source, rcv event.Received, body []byte, err error) int {
	fes := fieldErrors(err)
	row := newBadRow(body, fes)
	row.Index = -1
	rcv.Source = src.id
	c.bad.write(context.WithoutCancel(r.Context()), []badRow{c.stamp(row, r, e, src, rcv)})
	c.m.messages.WithLabelValues(outRejected).Inc()
	zero, one := 0, 1
	writeJSON(w, http.StatusBadRequest, reply{Accepted: &zero, Rejected: &one, Code: string(fes[0].Code), Message: fes[0].Error(),
		Errors: []messageError{{Index: -1, Code: fes[0].Code, Errors: fes}}})
	return http.StatusBadRequest
}

func (c *Collector) stamp(row badRow, r *http.Request, e endpoint, src *source, rcv event.Received) badRow {
	row.Endpoint = r.URL.Path
	row.Source = src.id
	row.Node = c.cfg.Node
	row.ClientIP = rcv.IP
	row.ReceivedAt = rcv.At
	return row
}

func (c *Collector) noKey(w http.ResponseWriter, hasBasic bool) int {
	msg := "write key missing: send it as the HTTP Basic user name or as writeKey in the body"
	if hasBasic {
		msg = "unknown write key"
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="segmentflow"`)
	return fail(w, http.StatusUnauthorized, "unauthorized", msg)
}

func (c *Collector) allow(w http.ResponseWriter, src *source) (int, bool) {
	if src.limiter == nil {
		return 0, true
	}
	res := src.limiter.Reserve()
	if d := res.Delay(); d > 0 || !res.OK() {
		res.Cancel()
		secs := int(d/time.Second) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return fail(w, http.StatusTooManyRequests, "rate_limited", "over the source's request rate"), false
	}
	return 0, true
}

func (c *Collector) unavailable(w http.ResponseWriter, msg string) int {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(c.cfg.BreakerOpen/time.Second))))
	return fail(w, http.StatusServiceUnavailable, "unavailable", msg)
}

func (c *Collector) clientIP(r *http.Request) string {
	if c.cfg.TrustForwardedFor {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			return strings.TrimSpace(first)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func fieldErrors(err error) []event.FieldError {
	var ve *event.ValidationError
	var fe event.FieldError
	switch {
	case errors.As(err, &ve) && len(ve.Errors) > 0:
		return ve.Errors
	case errors.As(err, &fe):
		return []event.FieldError{fe}
	}
	return []event.FieldError{{Code: event.ReasonCode(err), Message: err.Error()}}
}

func probeMessageID(raw []byte) string {
	var p struct {
		MessageID any `json:"messageId"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return ""
	}
	s, _ := p.MessageID.(string)
	if len(s) > 256 {
		s = s[:256]
	}
	return s
}

func fail(w http.ResponseWriter, status int, code, msg string) int {
	writeJSON(w, status, reply{Code: code, Message: msg})
	return status
}

// okReply is writeJSON's encoding of reply{Success: true}, the reply to
// nearly every request, written without building an encoder each time.
var okReply = []byte("{\"success\":true}\n")

func writeOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(okReply)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
