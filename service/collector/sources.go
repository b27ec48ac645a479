package collector

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// sourcesFile is the --sources document (YAML or JSON):
//
//	sources:
//	  - id: ios-app
//	    write_key: 6f1c...
//	    rate: 200      # requests/s, optional (else --rate)
//	    burst: 400     # optional
type sourcesFile struct {
	Sources []Source `json:"sources"`
}

// LoadSources reads a sources file.
func LoadSources(path string) ([]Source, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("collector: sources: %w", err)
	}
	var f sourcesFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		return nil, fmt.Errorf("collector: sources %s: %w", path, err)
	}
	return f.Sources, nil
}

// ParseWriteKey parses a --write-key KEY=SOURCE flag value.
func ParseWriteKey(v string) (Source, error) {
	key, id, ok := strings.Cut(v, "=")
	if !ok || key == "" || id == "" {
		return Source{}, fmt.Errorf("collector: write key %q: want KEY=SOURCE", v)
	}
	return Source{ID: id, WriteKey: key}, nil
}
