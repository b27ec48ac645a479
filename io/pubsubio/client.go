package pubsubio

import (
	"context"
	"fmt"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// newClient connects to Pub/Sub. A non-empty endpoint (host:port) is an
// emulator: plaintext gRPC, no credentials. With an empty endpoint the client
// library itself honours PUBSUB_EMULATOR_HOST, else it uses the real service
// with application default credentials.
func newClient(ctx context.Context, project, endpoint string) (*pubsub.Client, error) {
	var opts []option.ClientOption
	if endpoint != "" {
		opts = append(opts,
			option.WithEndpoint(endpoint),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		)
	}
	c, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, fmt.Errorf("pubsubio: connect to project %s (endpoint %q): %w", project, endpoint, err)
	}
	return c, nil
}

func subscriptionPath(project, sub string) string {
	return fmt.Sprintf("projects/%s/subscriptions/%s", project, sub)
}

func topicPath(project, topic string) string {
	return fmt.Sprintf("projects/%s/topics/%s", project, topic)
}
