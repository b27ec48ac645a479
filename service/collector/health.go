package collector

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (c *Collector) routes() http.Handler {
	mux := http.NewServeMux()
	for _, e := range endpoints {
		for _, p := range e.paths {
			mux.Handle(p, c.trackHandler(e))
		}
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", c.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(c.cfg.Registry, promhttp.HandlerOpts{}))
	return mux
}

// ready is 503 while draining; otherwise it reports each Pub/Sub target's
// breaker state. A node whose topics are all failing stays ready because
// the GCS failover still takes its traffic.
func (c *Collector) ready(w http.ResponseWriter, _ *http.Request) {
	status := map[string]any{"node": c.cfg.Node}
	targets := map[string]string{}
	for _, t := range c.delivery.targets {
		targets[t.name] = t.state()
	}
	status["targets"] = targets
	if c.draining.Load() {
		status["status"] = "draining"
		writeJSON(w, http.StatusServiceUnavailable, status)
		return
	}
	status["status"] = "ready"
	writeJSON(w, http.StatusOK, status)
}
