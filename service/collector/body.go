package collector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
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
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		return nil, fmt.Errorf("%w: %q", errBadEncoding, enc)
	}
	// Sized once from Content-Length: io.ReadAll grows from 512 bytes,
	// which for a 14 KB batch allocated 33 KB over 11 copies. Past
	// maxPrealloc the buffer grows with the bytes that actually arrive, so
	// that a client announcing 500 KB and sending nothing holds little.
	b, err := readAll(http.MaxBytesReader(w, r.Body, limit), min(max(r.ContentLength, 512), maxPrealloc, limit))
	if err != nil {
		return nil, classifyRead(err, errBadGzip)
	}
	if gz {
		if b, err = gunzip(b, limit); err != nil {
			return nil, err
		}
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

// maxPrealloc bounds the buffer allocated on a client's word (its
// Content-Length) before the bytes are there; SDK batches are mostly well
// under it.
const maxPrealloc = 64 << 10

// gzipReaders keeps gzip readers between requests: each holds a flate
// decompressor of about 40 KB, the biggest allocation of a gzip request.
// klauspost/compress inflates in about three quarters of compress/gzip's
// CPU time (BenchmarkReadBody/gzip).
var gzipReaders sync.Pool // of *gzip.Reader

func gunzip(z []byte, limit int64) ([]byte, error) {
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(z))
	} else {
		err = zr.Reset(bytes.NewReader(z))
	}
	if err != nil {
		if zr != nil {
			gzipReaders.Put(zr)
		}
		return nil, classifyRead(err, errBadGzip)
	}
	defer gzipReaders.Put(zr)
	b, err := readAll(io.LimitReader(zr, limit+1), inflatedHint(z, limit))
	if err != nil {
		return nil, classifyRead(err, errBadGzip)
	}
	return b, nil
}

// inflatedHint is the gzip trailer's size of the uncompressed data, the
// buffer to decompress into. The client writes it, so it only sizes the
// buffer: it is bounded by the limit and by a ratio no JSON batch reaches
// (a tiny body claiming 500 KB must not make every request allocate that).
func inflatedHint(z []byte, limit int64) int64 {
	if len(z) < 18 { // header and trailer
		return 512
	}
	n := int64(binary.LittleEndian.Uint32(z[len(z)-4:]))
	return min(max(n, 512), limit+1, 64*int64(len(z)))
}

// readAll is io.ReadAll starting from a buffer of size bytes and one more,
// so that the read which sees EOF needs no growth.
func readAll(r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, 0, size+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return b, nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append pick the growth
		}
	}
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
