package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	df "google.golang.org/api/dataflow/v1b3"
)

// dryRun translates a pipeline to a Dataflow job with the SDK's --dry_run,
// which logs the job instead of submitting it, and returns the job and the
// transform names of the pipeline model it logged too. No network: the
// SDK's soft-delete check of the staging bucket fails fast for lack of
// credentials and only warns.
func dryRun(t *testing.T, args ...string) (job *df.Job, transforms []string, log string) {
	t.Helper()
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "no-credentials.json"))
	var stdout, stderr syncBuffer
	args = append(args, "--runner=dataflow", "--dry_run", "--project=segmentflow-test", "--region=europe-west1",
		"--staging_location=gs://segmentflow-test-staging/dataflow")
	if code := realMain(args, &stdout, &stderr); code != 0 {
		t.Fatalf("segmentflow %q: exit %d\n%s", args, code, stderr.String())
	}
	log = stderr.String()
	job = findJob(log)
	if job == nil {
		t.Fatalf("no Dataflow job in the dry run's output:\n%s", log)
	}
	for _, m := range transformName.FindAllStringSubmatch(log, -1) {
		transforms = append(transforms, m[1])
	}
	sort.Strings(transforms)
	return job, transforms, log
}

// transformName matches the transforms of a logged pipeline model (its
// PCollections have unique names too, followed by their coder).
var transformName = regexp.MustCompile(`unique_name:\s*"([^"]+)"\s*(?:spec|subtransforms)`)

// findJob decodes the first JSON object in s that is a Dataflow job.
func findJob(s string) *df.Job {
	for i := strings.Index(s, "{\n"); i >= 0; {
		var job df.Job
		if err := json.NewDecoder(strings.NewReader(s[i:])).Decode(&job); err == nil && job.Type != "" {
			return &job
		}
		next := strings.Index(s[i+1:], "{\n")
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return nil
}

// TestLakeTranslatesToDataflowStreamingJob: the lake pipeline becomes a
// streaming Dataflow job on Streaming Engine and runner v2, named so that
// --update finds the running job, carrying the pipeline's parameters as
// pipeline options, with transform names that do not depend on the
// parameters (a Dataflow update matches transforms by name).
func TestLakeTranslatesToDataflowStreamingJob(t *testing.T) {
	job, names, log := dryRun(t, "run", "lake", "--lake=gs://segmentflow-test-lake", "--subscription=lake-a", "--pubsub_project=segmentflow-test",
		"--update", `--transform_name_mapping={"lake/old":"lake/new"}`)

	if job.Type != "JOB_TYPE_STREAMING" {
		t.Errorf("job type %q, want JOB_TYPE_STREAMING", job.Type)
	}
	if job.Name != "segmentflow-lake" {
		t.Errorf("job name %q, want segmentflow-lake (the name terraform launches and --update matches)", job.Name)
	}
	if job.ProjectId != "segmentflow-test" {
		t.Errorf("project %q", job.ProjectId)
	}
	for _, e := range []string{"enable_streaming_engine", "enable_windmill_service", "use_runner_v2", "beam_fn_api"} {
		if !slices.Contains(job.Environment.Experiments, e) {
			t.Errorf("experiments %q lack %s", job.Environment.Experiments, e)
		}
	}
	if want := map[string]string{"lake/old": "lake/new"}; !reflect.DeepEqual(job.TransformNameMapping, want) {
		t.Errorf("transform name mapping %v, want %v", job.TransformNameMapping, want)
	}
	pkgs := job.Environment.WorkerPools[0].Packages
	if len(pkgs) == 0 || pkgs[0].Name != "worker" || !strings.HasPrefix(pkgs[0].Location, "gs://segmentflow-test-staging/dataflow/") {
		t.Errorf("worker package %+v, want the worker binary staged under --staging_location", pkgs)
	}

	var sdkOpts struct {
		Options struct {
			Region, TempLocation string
		} `json:"options"`
		GoOptions struct {
			Options map[string]string `json:"options"`
		} `json:"beam:option:go_options:v1"`
	}
	if err := json.Unmarshal(job.Environment.SdkPipelineOptions, &sdkOpts); err != nil {
		t.Fatalf("sdk pipeline options: %v", err)
	}
	if sdkOpts.Options.Region != "europe-west1" || !strings.HasPrefix(sdkOpts.Options.TempLocation, "gs://segmentflow-test-staging/") {
		t.Errorf("dataflow options %+v", sdkOpts.Options)
	}
	for k, v := range map[string]string{"lake": "gs://segmentflow-test-lake", "subscription": "lake-a"} {
		if got := sdkOpts.GoOptions.Options[k]; got != v {
			t.Errorf("pipeline option %s = %q, want %q (options: %v)", k, got, v, sdkOpts.GoOptions.Options)
		}
	}

	// On Dataflow the read is the runner's native Pub/Sub source.
	if !strings.Contains(log, "projects/segmentflow-test/subscriptions/lake-a") {
		t.Error("the pipeline model does not read projects/segmentflow-test/subscriptions/lake-a")
	}
	if len(names) == 0 {
		t.Fatal("no transform names in the logged pipeline model")
	}
	for _, n := range names {
		if n != "lake" && !strings.HasPrefix(n, "lake/") {
			t.Errorf("transform %q is outside the lake scope", n)
		}
	}
	// The flex-template launcher's form of the same launch, other values.
	job2, names2, _ := dryRun(t, "--pipeline=lake", "--lake=gs://other-lake", "--subscription=lake-b", "--readers=3", "--shards=2")
	if job2.Type != "JOB_TYPE_STREAMING" || job2.Name != "segmentflow-lake" {
		t.Errorf("flex-style launch: job %q of type %q", job2.Name, job2.Type)
	}
	if !reflect.DeepEqual(names, names2) {
		t.Errorf("transform names depend on the parameters, so --update would not map them:\n%q\n%q", names, names2)
	}
}
