package emulators

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"
)

// GCS is a running fake-gcs-server.
type GCS struct {
	// URL is its base URL, e.g. http://127.0.0.1:4443 (STORAGE_EMULATOR_HOST
	// takes the host:port part).
	URL    string
	Host   string
	Server *fakestorage.Server
}

// StartGCS starts fake-gcs-server over plain HTTP on addr ("127.0.0.1:0"
// picks a free port). With dataDir set, objects are kept on disk there and
// survive a restart; otherwise they live in memory.
func StartGCS(addr, dataDir string) (*GCS, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("emulators: gcs address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("emulators: gcs port %q: %w", portStr, err)
	}
	if port == 0 {
		// fake-gcs-server must know its public host:port before it starts
		// (reads 404 otherwise), so pick the free port first.
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("emulators: gcs free port: %w", err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	hostPort := net.JoinHostPort(host, strconv.Itoa(port))
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme:      "http",
		Host:        host,
		Port:        uint16(port),
		PublicHost:  hostPort,
		ExternalURL: "http://" + hostPort,
		StorageRoot: dataDir,
	})
	if err != nil {
		return nil, fmt.Errorf("emulators: start gcs on %s: %w", hostPort, err)
	}
	return &GCS{URL: "http://" + hostPort, Host: hostPort, Server: srv}, nil
}

// StorageOptions point a storage client at a fake-gcs-server base URL.
func StorageOptions(baseURL string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(baseURL + "/storage/v1/"),
		option.WithoutAuthentication(),
		storage.WithJSONReads(),
	}
}

// Client returns a storage client talking to the server.
func (g *GCS) Client(ctx context.Context) (*storage.Client, error) {
	c, err := storage.NewClient(ctx, StorageOptions(g.URL)...)
	if err != nil {
		return nil, fmt.Errorf("emulators: storage client: %w", err)
	}
	return c, nil
}

// Close stops the server.
func (g *GCS) Close() { g.Server.Stop() }
