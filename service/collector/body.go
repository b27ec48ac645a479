package collector

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

var (
	errTooLarge     = errors.New("body too large")
	errBadEncoding  = errors.New("unsupported Content-Encoding")
	errBadGzip      = errors.New("body is not valid gzip")
	errReadInterupt = errors.New("body could not be read")
)

// readBody reads a request body, gunzipping it when the client says so. The
// limit applies to the bytes on the wire and to the decompressed body, so a
// small gzip bomb is refused like a big body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	var rd io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, classifyRead(err, errBadGzip)
		}
		defer zr.Close()
		rd = io.LimitReader(zr, limit+1)
	default:
		return nil, fmt.Errorf("%w: %q", errBadEncoding, enc)
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, classifyRead(err, errBadGzip)
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

func classifyRead(err, fallback error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return errTooLarge
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %v", fallback, err)
	case strings.Contains(err.Error(), "flate"):
		return fmt.Errorf("%w: %v", fallback, err)
	}
	return fmt.Errorf("%w: %v", errReadInterupt, err)
}
