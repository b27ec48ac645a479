package main

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

const infraDir = "../../infra"

type templateMetadata struct {
	Name       string `json:"name"`
	Streaming  bool   `json:"streaming"`
	Parameters []struct {
		Name       string   `json:"name"`
		HelpText   string   `json:"helpText"`
		IsOptional bool     `json:"isOptional"`
		Regexes    []string `json:"regexes"`
	} `json:"parameters"`
}

func readMetadata(t *testing.T, pipeline string) templateMetadata {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(infraDir, "flex", pipeline, "metadata.json"))
	if err != nil {
		t.Fatalf("flex-template metadata of %s: %v", pipeline, err)
	}
	var m templateMetadata
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s metadata: %v", pipeline, err)
	}
	return m
}

// emulatorFlag reports whether a pipeline flag only points at a local
// emulator, which a Dataflow job has no use for.
func emulatorFlag(name string) bool { return strings.HasSuffix(name, "_endpoint") }

// TestFlexMetadataMatchesFlags: every streaming pipeline has a flex-template
// metadata file, each of its parameters is a flag the binary accepts for
// that pipeline, and every pipeline flag but the emulator endpoints is a
// parameter, so a launch can set anything `run` can.
func TestFlexMetadataMatchesFlags(t *testing.T) {
	for name, spec := range pipelineSpecs() {
		if !spec.streaming {
			continue
		}
		t.Run(name, func(t *testing.T) {
			m := readMetadata(t, name)
			if !m.Streaming {
				t.Error("metadata does not mark the template streaming")
			}
			fs, _, err := runFlagSet(name, spec, flag.CommandLine, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			own := flag.NewFlagSet(name, flag.ContinueOnError)
			spec.bind(own)
			declared := map[string]bool{}
			for _, p := range m.Parameters {
				declared[p.Name] = true
				if p.HelpText == "" {
					t.Errorf("parameter %s has no help text", p.Name)
				}
				if p.Name == "pipeline" {
					if p.IsOptional || len(p.Regexes) != 1 || p.Regexes[0] != "^"+name+"$" {
						t.Errorf("the pipeline parameter must be required and pinned to %s: %+v", name, p)
					}
					continue
				}
				if fs.Lookup(p.Name) == nil {
					t.Errorf("parameter %s is not a flag of `segmentflow run %s`", p.Name, name)
				}
			}
			own.VisitAll(func(f *flag.Flag) {
				if !emulatorFlag(f.Name) && !declared[f.Name] {
					t.Errorf("flag --%s of %s is missing from its flex-template metadata", f.Name, name)
				}
			})
		})
	}
}

// TestTerraformStreamingParametersAreFlags: the parameters terraform
// launches the streaming jobs with (infra/modules/dataflow/streaming.tf)
// are declared in the pipeline's metadata, and every required parameter is
// set.
func TestTerraformStreamingParametersAreFlags(t *testing.T) {
	jobs := streamingJobParameters(t)
	for name, spec := range pipelineSpecs() {
		if !spec.streaming {
			continue
		}
		params, ok := jobs[name]
		if !ok {
			t.Errorf("terraform launches no streaming job for %s", name)
			continue
		}
		m := readMetadata(t, name)
		declared := map[string]bool{}
		for _, p := range m.Parameters {
			declared[p.Name] = true
			if !p.IsOptional && !params[p.Name] {
				t.Errorf("terraform launches %s without its required parameter %s", name, p.Name)
			}
		}
		for p := range params {
			if !declared[p] {
				t.Errorf("terraform launches %s with parameter %s, which its template does not declare", name, p)
			}
		}
	}
}

// streamingJobParameters reads the parameter names of each entry of
// local.streaming_jobs in the dataflow module.
func streamingJobParameters(t *testing.T) map[string]map[string]bool {
	t.Helper()
	path := filepath.Join(infraDir, "modules", "dataflow", "streaming.tf")
	f, diags := hclparse.NewParser().ParseHCLFile(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var jobs hclsyntax.Expression
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type == "locals" {
			if a, ok := b.Body.Attributes["streaming_jobs"]; ok {
				jobs = a.Expr
			}
		}
	}
	if jobs == nil {
		t.Fatalf("%s: no local streaming_jobs", path)
	}
	out := map[string]map[string]bool{}
	for job, v := range objectItems(t, jobs) {
		params, ok := objectItems(t, v)["parameters"]
		if !ok {
			t.Fatalf("streaming job %s has no parameters", job)
		}
		out[job] = map[string]bool{}
		for p := range objectItems(t, params) {
			out[job][p] = true
		}
	}
	return out
}

func objectItems(t *testing.T, e hclsyntax.Expression) map[string]hclsyntax.Expression {
	t.Helper()
	obj, ok := e.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatalf("%s: not an object literal", e.Range())
	}
	items := map[string]hclsyntax.Expression{}
	for _, it := range obj.Items {
		key := hcl.ExprAsKeyword(it.KeyExpr)
		if key == "" {
			t.Fatalf("%s: not a plain key", it.KeyExpr.Range())
		}
		items[key] = it.ValueExpr
	}
	return items
}
