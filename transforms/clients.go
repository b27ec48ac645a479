package transforms

import (
	"context"
	"fmt"

	"cloud.google.com/go/bigtable"
	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Bigtable names the tables the DoFns read and write.
type Bigtable struct {
	Project, Instance string
	// Endpoint is host:port of a Bigtable emulator; empty for the real
	// service (the client honours BIGTABLE_EMULATOR_HOST itself).
	Endpoint string
	// AppProfile is the app profile of every request (empty: the
	// instance's default).
	AppProfile string
	Users      string
	Profiles   string
}

func (b Bigtable) client(ctx context.Context) (*bigtable.Client, error) {
	var opts []option.ClientOption
	if b.Endpoint != "" {
		opts = append(opts,
			option.WithEndpoint(b.Endpoint),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		)
	}
	c, err := bigtable.NewClientWithConfig(ctx, b.Project, b.Instance, bigtable.ClientConfig{AppProfile: b.AppProfile}, opts...)
	if err != nil {
		return nil, fmt.Errorf("transforms: bigtable %s/%s (endpoint %q): %w", b.Project, b.Instance, b.Endpoint, err)
	}
	return c, nil
}

// storageClient connects to GCS; a non-empty endpoint is the base URL of a
// fake-gcs-server (plain HTTP, JSON reads, no credentials).
func storageClient(ctx context.Context, endpoint string) (*storage.Client, error) {
	var opts []option.ClientOption
	if endpoint != "" {
		opts = append(opts,
			option.WithEndpoint(endpoint+"/storage/v1/"),
			option.WithoutAuthentication(),
			storage.WithJSONReads(),
		)
	}
	c, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("transforms: storage client (endpoint %q): %w", endpoint, err)
	}
	return c, nil
}
