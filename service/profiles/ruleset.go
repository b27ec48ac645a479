package profiles

import (
	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/rules"
)

// loadRules is the watcher's callback: compile the new current version and
// put it in force. Published versions were compiled at publish time, so a
// failure here means a newer engine than the publisher's; the version in
// force stays, and the failure is logged and counted.
func (s *Server) loadRules(v *rulestore.Version) {
	rs, err := rules.Parse(v.Document)
	if err == nil {
		var eng *rules.Engine
		if eng, err = rules.Compile(rs, v.Number); err == nil {
			s.engine.Store(eng)
			s.metrics.rulesVersion.Set(float64(v.Number))
			s.log.Info("profiles: rule set in force", "version", v.Number)
			return
		}
	}
	s.metrics.rulesErrors.Inc()
	s.log.Error("profiles: rule set not loaded, keeping the one in force", "version", v.Number, "in_force", s.RulesVersion(), "err", err)
}
