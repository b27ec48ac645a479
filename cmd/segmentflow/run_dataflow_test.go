package main

import (
	"encoding/json"
	"fmt"
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

// streamingLaunches are, per streaming pipeline, two sets of its parameters
// (a launch and a later update with other values) and what the first one
// must show in the job: pipeline options and the subscription the native
// Pub/Sub read of Dataflow pulls.
var streamingLaunches = map[string]struct {
	first, second []string
	options       map[string]string
	subscription  string
}{
	"lake": {
		first:        []string{"--lake=gs://segmentflow-test-lake", "--subscription=lake-a", "--pubsub_project=segmentflow-test"},
		second:       []string{"--lake=gs://other-lake", "--subscription=lake-b", "--readers=3", "--shards=2"},
		options:      map[string]string{"lake": "gs://segmentflow-test-lake", "subscription": "lake-a"},
		subscription: "projects/segmentflow-test/subscriptions/lake-a",
	},
	"classify": {
		first: []string{"--subscription=classify-a", "--pubsub_project=segmentflow-test", "--bigtable_instance=segmentflow",
			"--rules_bucket=segmentflow-test-rules"},
		second:       []string{"--subscription=classify-b", "--bigtable_instance=other", "--readers=2", "--join_batch=100"},
		options:      map[string]string{"subscription": "classify-a", "bigtable_instance": "segmentflow", "rules_bucket": "segmentflow-test-rules"},
		subscription: "projects/segmentflow-test/subscriptions/classify-a",
	},
}

// TestStreamingPipelinesTranslateToDataflowStreamingJobs: each streaming
// pipeline becomes a streaming Dataflow job on Streaming Engine and runner
// v2, named so that --update finds the running job, carrying its parameters
// as pipeline options, reading Pub/Sub natively, with transform names that
// do not depend on the parameters (an update matches transforms by name).
func TestStreamingPipelinesTranslateToDataflowStreamingJobs(t *testing.T) {
	for name, spec := range pipelineSpecs() {
		if !spec.streaming {
			continue
		}
		launch, ok := streamingLaunches[name]
		if !ok {
			t.Errorf("streaming pipeline %s has no case in streamingLaunches", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			args := append([]string{"run", name}, launch.first...)
			args = append(args, "--update", fmt.Sprintf(`--transform_name_mapping={"%s/old":"%s/new"}`, name, name))
			job, names, log := dryRun(t, args...)
			checkStreamingJob(t, name, job)
			if want := map[string]string{name + "/old": name + "/new"}; !reflect.DeepEqual(job.TransformNameMapping, want) {
				t.Errorf("transform name mapping %v, want %v", job.TransformNameMapping, want)
			}
			opts := goOptions(t, job)
			for k, v := range launch.options {
				if got := opts[k]; got != v {
					t.Errorf("pipeline option %s = %q, want %q (options: %v)", k, got, v, opts)
				}
			}
			if !strings.Contains(log, launch.subscription) {
				t.Errorf("the pipeline model does not read %s", launch.subscription)
			}
			if len(names) == 0 {
				t.Fatal("no transform names in the logged pipeline model")
			}
			for _, n := range names {
				if n != name && !strings.HasPrefix(n, name+"/") {
					t.Errorf("transform %q is outside the %s scope", n, name)
				}
			}

			// The flex-template launcher's form of a launch, other values.
			job2, names2, _ := dryRun(t, append([]string{"--pipeline=" + name}, launch.second...)...)
			checkStreamingJob(t, name, job2)
			if !reflect.DeepEqual(names, names2) {
				t.Errorf("transform names depend on the parameters, so --update would not map them:\n%q\n%q", names, names2)
			}
		})
	}
}

func checkStreamingJob(t *testing.T, name string, job *df.Job) {
	t.Helper()
	if job.Type != "JOB_TYPE_STREAMING" {
		t.Errorf("job type %q, want JOB_TYPE_STREAMING", job.Type)
	}
	if want := "segmentflow-" + name; job.Name != want {
		t.Errorf("job name %q, want %s (the name terraform launches and --update matches)", job.Name, want)
	}
	if job.ProjectId != "segmentflow-test" {
		t.Errorf("project %q", job.ProjectId)
	}
	for _, e := range []string{"enable_streaming_engine", "enable_windmill_service", "use_runner_v2", "beam_fn_api"} {
		if !slices.Contains(job.Environment.Experiments, e) {
			t.Errorf("experiments %q lack %s", job.Environment.Experiments, e)
		}
	}
	pkgs := job.Environment.WorkerPools[0].Packages
	if len(pkgs) == 0 || pkgs[0].Name != "worker" || !strings.HasPrefix(pkgs[0].Location, "gs://segmentflow-test-staging/dataflow/") {
		t.Errorf("worker package %+v, want the worker binary staged under --staging_location", pkgs)
	}
}

// goOptions are the Go SDK's pipeline options of a job (the flags set on
// the command line, shown in the Dataflow UI); it also checks the Dataflow
// options of the region and staging flags.
func goOptions(t *testing.T, job *df.Job) map[string]string {
	t.Helper()
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
	return sdkOpts.GoOptions.Options
}
