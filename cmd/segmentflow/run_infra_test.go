package main

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
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

// TestFlexMetadataMatchesFlags: every pipeline has a flex-template
// metadata file, each of its parameters is a flag the binary accepts for
// that pipeline, and every pipeline flag but the emulator endpoints is a
// parameter, so a launch can set anything `run` can.
func TestFlexMetadataMatchesFlags(t *testing.T) {
	for name, spec := range pipelineSpecs() {
		t.Run(name, func(t *testing.T) {
			m := readMetadata(t, name)
			if m.Streaming != spec.streaming {
				t.Errorf("metadata marks the template streaming=%v, the pipeline is streaming=%v", m.Streaming, spec.streaming)
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
	f := parseHCL(t, path)
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

// parseHCL parses one terraform file or fails the test.
func parseHCL(t *testing.T, path string) *hcl.File {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCLFile(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return f
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

// TestTerraformServiceArgsAreFlags: every `--flag=` in the container args
// of the Cloud Run services (cloudrun and dr modules) is a flag that the
// subcommand's -h lists.
func TestTerraformServiceArgsAreFlags(t *testing.T) {
	helps := map[string]string{}
	found := 0
	for _, dir := range []string{"cloudrun", "dr"} {
		files, err := filepath.Glob(filepath.Join(infraDir, "modules", dir, "*.tf"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			f := parseHCL(t, path)
			for _, args := range argLists(f.Body.(*hclsyntax.Body)) {
				found++
				cmd, flags := commandLine(f.Bytes, args)
				if cmd == "" {
					t.Errorf("%s: args do not start with a subcommand", args.Range())
					continue
				}
				if _, ok := helps[cmd]; !ok {
					var out, errOut syncBuffer
					realMain([]string{cmd, "-h"}, &out, &errOut)
					helps[cmd] = out.String() + errOut.String()
				}
				for _, fl := range flags {
					if !strings.Contains(helps[cmd], "\n  -"+fl+" ") && !strings.Contains(helps[cmd], "\n  -"+fl+"\n") {
						t.Errorf("%s: `segmentflow %s` has no flag --%s", args.Range(), cmd, fl)
					}
				}
			}
		}
	}
	if found == 0 {
		t.Fatal("no container args found in the cloudrun and dr modules")
	}
}

// argLists finds the tuple literals assigned to args or *_args anywhere in
// body.
func argLists(body *hclsyntax.Body) []*hclsyntax.TupleConsExpr {
	var out []*hclsyntax.TupleConsExpr
	for name, a := range body.Attributes {
		if tup, ok := a.Expr.(*hclsyntax.TupleConsExpr); ok && (name == "args" || strings.HasSuffix(name, "_args")) {
			out = append(out, tup)
		}
	}
	for _, b := range body.Blocks {
		out = append(out, argLists(b.Body)...)
	}
	return out
}

// commandLine returns the subcommand and the flag names of an args list
// whose elements are "cmd" and "--name=${...}" templates.
func commandLine(src []byte, args *hclsyntax.TupleConsExpr) (string, []string) {
	var cmd string
	var flags []string
	for i, e := range args.Exprs {
		tmpl, ok := e.(*hclsyntax.TemplateExpr)
		if !ok || len(tmpl.Parts) == 0 {
			continue
		}
		lit, ok := tmpl.Parts[0].(*hclsyntax.LiteralValueExpr)
		if !ok {
			continue
		}
		r := lit.Range()
		s := string(src[r.Start.Byte:r.End.Byte])
		if i == 0 {
			cmd = s
			continue
		}
		if strings.HasPrefix(s, "-") {
			name, _, _ := strings.Cut(strings.TrimLeft(s, "-"), "=")
			flags = append(flags, name)
		}
	}
	return cmd, flags
}

// TestCloudRunServicesListenOnContainerPort: every Cloud Run container
// listens where Cloud Run sends its traffic and probes: the --addr in its
// args, or the subcommand's default, ends in the container_port.
func TestCloudRunServicesListenOnContainerPort(t *testing.T) {
	found := 0
	for _, dir := range []string{"cloudrun", "dr"} {
		files, err := filepath.Glob(filepath.Join(infraDir, "modules", dir, "*.tf"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			f := parseHCL(t, path)
			for _, c := range containerBlocks(f.Body.(*hclsyntax.Body)) {
				found++
				port, args := containerPortAndArgs(t, f.Bytes, c)
				if port == "" {
					t.Errorf("%s: container has no ports.container_port", c.Range())
					continue
				}
				cmd, addr := listenAddr(f.Bytes, args)
				if addr == "" {
					var out, errOut syncBuffer
					realMain([]string{cmd, "-h"}, &out, &errOut)
					addr = flagDefault(out.String()+errOut.String(), "addr")
				}
				if !strings.HasSuffix(addr, ":"+port) {
					t.Errorf("%s: `segmentflow %s` listens on %q, Cloud Run sends to port %s", c.Range(), cmd, addr, port)
				}
			}
		}
	}
	if found == 0 {
		t.Fatal("no containers blocks found in the cloudrun and dr modules")
	}
}

func containerBlocks(body *hclsyntax.Body) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type == "containers" {
			out = append(out, b)
			continue
		}
		out = append(out, containerBlocks(b.Body)...)
	}
	return out
}

// containerPortAndArgs returns the literal ports.container_port of a
// containers block and its args list, following a reference to a local
// (args = local.collector_args) by name in the same file.
func containerPortAndArgs(t *testing.T, src []byte, c *hclsyntax.Block) (string, *hclsyntax.TupleConsExpr) {
	t.Helper()
	var port string
	for _, b := range c.Body.Blocks {
		if a, ok := b.Body.Attributes["container_port"]; ok && b.Type == "ports" {
			r := a.Expr.Range()
			port = strings.TrimSpace(string(src[r.Start.Byte:r.End.Byte]))
		}
	}
	a, ok := c.Body.Attributes["args"]
	if !ok {
		return port, nil
	}
	if tup, ok := a.Expr.(*hclsyntax.TupleConsExpr); ok {
		return port, tup
	}
	r := a.Expr.Range()
	ref := strings.TrimPrefix(strings.TrimSpace(string(src[r.Start.Byte:r.End.Byte])), "local.")
	f, diags := hclparse.NewParser().ParseHCL(src, "ref.tf")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type != "locals" {
			continue
		}
		if la, ok := b.Body.Attributes[ref]; ok {
			if tup, ok := la.Expr.(*hclsyntax.TupleConsExpr); ok {
				return port, tup
			}
		}
	}
	t.Fatalf("%s: args %q is neither a list nor a local of this file", a.Range(), ref)
	return "", nil
}

// listenAddr returns the subcommand of args and the value of its --addr,
// if given.
func listenAddr(src []byte, args *hclsyntax.TupleConsExpr) (cmd, addr string) {
	if args == nil {
		return "", ""
	}
	for i, e := range args.Exprs {
		r := e.Range()
		s := strings.Trim(strings.TrimSpace(string(src[r.Start.Byte:r.End.Byte])), `"`)
		if i == 0 {
			cmd = s
		}
		if v, ok := strings.CutPrefix(s, "--addr="); ok {
			addr = v
		}
	}
	return cmd, addr
}

// flagDefault reads a flag's default from flag.PrintDefaults output.
func flagDefault(help, name string) string {
	_, rest, ok := strings.Cut(help, "\n  -"+name+" ")
	if !ok {
		return ""
	}
	line, _, _ := strings.Cut(rest, "\n  -")
	_, def, ok := strings.Cut(line, `(default "`)
	if !ok {
		return ""
	}
	def, _, _ = strings.Cut(def, `"`)
	return def
}

// pendingBatchPipelines are launched by terraform's batch schedules but not
// built yet; TestTerraformBatchParametersAreFlags checks each one once it
// is a `segmentflow run` pipeline (and then it must leave this list).
var pendingBatchPipelines = map[string]bool{"stats": true, "replay": true, "vendorpull": true}

// TestTerraformBatchParametersAreFlags: every parameter the batch schedules
// (infra/modules/dataflow/batch.tf and the parameters its workflows merge
// in) launch a pipeline with is declared in that pipeline's flex-template
// metadata and is a flag of `segmentflow run`, and every required
// parameter is set.
func TestTerraformBatchParametersAreFlags(t *testing.T) {
	launches := batchLaunchParameters(t)
	merged := workflowMergedParameters(t)
	specs := pipelineSpecs()
	for name, params := range launches {
		for p := range merged[name] {
			params[p] = true
		}
		spec, built := specs[name]
		if !built {
			if !pendingBatchPipelines[name] {
				t.Errorf("terraform launches %s, which is not a `segmentflow run` pipeline", name)
			}
			continue
		}
		if pendingBatchPipelines[name] {
			t.Errorf("%s is built now: take it off pendingBatchPipelines", name)
		}
		m := readMetadata(t, name)
		if m.Streaming || spec.streaming {
			t.Errorf("%s is launched as a batch job but is a streaming pipeline or template", name)
		}
		fs, _, err := runFlagSet(name, spec, flag.CommandLine, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		declared := map[string]bool{}
		for _, p := range m.Parameters {
			declared[p.Name] = true
			if p.Name != "pipeline" && fs.Lookup(p.Name) == nil {
				t.Errorf("%s metadata declares %s, which is not a flag of `segmentflow run %s`", name, p.Name, name)
			}
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
	if _, ok := launches["reconcile"]; !ok {
		t.Error("terraform launches no reconcile job")
	}
}

// batchLaunchParameters finds every object literal of batch.tf with a
// literal `pipeline` key (the jsonencode'd workflow parameters and the
// vendor pulls' launch parameters) and returns its keys by pipeline.
func batchLaunchParameters(t *testing.T) map[string]map[string]bool {
	t.Helper()
	path := filepath.Join(infraDir, "modules", "dataflow", "batch.tf")
	f := parseHCL(t, path)
	out := map[string]map[string]bool{}
	diags := hclsyntax.VisitAll(f.Body.(*hclsyntax.Body), func(n hclsyntax.Node) hcl.Diagnostics {
		obj, ok := n.(*hclsyntax.ObjectConsExpr)
		if !ok {
			return nil
		}
		keys := map[string]bool{}
		pipeline := ""
		for _, it := range obj.Items {
			key := hcl.ExprAsKeyword(it.KeyExpr)
			keys[key] = true
			if key == "pipeline" {
				if v, d := it.ValueExpr.Value(nil); !d.HasErrors() && v.Type().FriendlyName() == "string" {
					pipeline = v.AsString()
				}
			}
		}
		if pipeline != "" {
			out[pipeline] = keys
		}
		return nil
	})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return out
}

// workflowMergedParameters reads the keys the workflows add to a
// pipeline's parameters at launch: `map.merge(NAME, {"key": ...})`.
func workflowMergedParameters(t *testing.T) map[string]map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(infraDir, "modules", "dataflow", "*.workflow.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows: %v", err)
	}
	merge := regexp.MustCompile(`map\.merge\((\w+), \{([^}]*)\}\)`)
	key := regexp.MustCompile(`"(\w+)":`)
	out := map[string]map[string]bool{}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range merge.FindAllSubmatch(b, -1) {
			name := string(m[1])
			if out[name] == nil {
				out[name] = map[string]bool{}
			}
			for _, k := range key.FindAllSubmatch(m[2], -1) {
				out[name][string(k[1])] = true
			}
		}
	}
	return out
}
