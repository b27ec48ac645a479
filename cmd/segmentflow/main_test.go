package main

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

// TestMain lets this package's tests run pipelines: ptest.Main parses the
// Beam flags and calls beam.Init, with prism as the default runner.
func TestMain(m *testing.M) { ptest.Main(m) }
