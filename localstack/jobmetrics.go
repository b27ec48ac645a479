package localstack

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/metricsx"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// jobMetrics reads the Beam counters of the running prism jobs through
// prism's Job API (GetJobMetrics answers for running streaming jobs, where
// a PipelineResult exists only once a job ends). prism keeps finished jobs,
// so the sums include the runs before a scheduled restart.
type jobMetrics struct {
	mu     sync.Mutex
	conn   *grpc.ClientConn
	client jobpb.JobServiceClient
}

// counters sums every counter of namespace ns over all jobs, by name.
func (m *jobMetrics) counters(ctx context.Context, ns string) (map[string]int64, error) {
	c, err := m.connect()
	if err != nil || c == nil {
		return nil, err
	}
	jobs, err := c.GetJobs(ctx, &jobpb.GetJobsRequest{})
	if err != nil {
		return nil, fmt.Errorf("localstack: prism jobs: %w", err)
	}
	out := map[string]int64{}
	var errs []error
	for _, j := range jobs.GetJobInfo() {
		resp, err := c.GetJobMetrics(ctx, &jobpb.GetJobMetricsRequest{JobId: j.GetJobId()})
		if err != nil {
			// One job's answer missing must not blank the others' counts.
			errs = append(errs, fmt.Errorf("localstack: metrics of job %s: %w", j.GetJobId(), err))
			continue
		}
		res := metricsx.FromMonitoringInfos(nil, resp.GetMetrics().GetAttempted(), resp.GetMetrics().GetCommitted())
		for _, cr := range res.AllMetrics().Counters() {
			if cr.Key.Namespace == ns {
				out[cr.Key.Name] += cr.Result()
			}
		}
	}
	if len(errs) == len(jobs.GetJobInfo()) && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// connect dials the job server prism.Execute started in this process (its
// address is in the jobopts flag once the first job was submitted).
func (m *jobMetrics) connect() (jobpb.JobServiceClient, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.client != nil {
		return m.client, nil
	}
	ep := *jobopts.Endpoint
	if ep == "" {
		return nil, nil
	}
	conn, err := grpc.NewClient(ep, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("localstack: prism job server %s: %w", ep, err)
	}
	m.conn, m.client = conn, jobpb.NewJobServiceClient(conn)
	return m.client, nil
}

func (m *jobMetrics) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn != nil {
		_ = m.conn.Close()
	}
}
