package rulesapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/rules"
)

// validateResponse says whether a rule set would be accepted by a publish.
// An invalid rule set is a normal answer (200), not a failed request: the
// console calls this as the author types.
type validateResponse struct {
	Valid    bool            `json:"valid"`
	Problems []rules.Problem `json:"problems"`
	Segments int             `json:"segments"`
	Rules    int             `json:"rules"`
	Partners int             `json:"partners"`
}

func (s *Server) validate(w http.ResponseWriter, r *http.Request, _ Principal) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	doc := docOf(body)
	// Compile as the next version would be, so messages match a publish.
	cur, err := s.cfg.Store.CurrentNumber(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	_, counts, err := rulestore.Validate(doc, cur+1)
	res := validateResponse{Valid: err == nil, Problems: []rules.Problem{},
		Segments: counts.Segments, Rules: counts.Rules, Partners: counts.Partners}
	if err != nil {
		res.Problems = problemsOf(err)
		s.metrics.validates.WithLabelValues("invalid").Inc()
	} else {
		s.metrics.validates.WithLabelValues("valid").Inc()
	}
	writeJSON(w, http.StatusOK, res)
}

// jsonStrict decodes one JSON value refusing unknown fields.
func jsonStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}
