package pubsubio

import "time"

// watermarkState is what the runner keeps of the estimator between bundles.
type watermarkState struct {
	// Millis is the watermark, in Unix milliseconds.
	Millis int64
	// LagMillis is how far behind the wall clock the watermark stays.
	LagMillis int64
}

// watermarkEstimator holds the watermark at the latest event time emitted
// (the SDK reports every emitted timestamp), never later than the wall clock
// minus the lag: a device clock in the future must not push the watermark past
// real time, and a message published just before the pull is still on time.
// An idle reader moves it to that bound. It never moves back.
type watermarkEstimator struct{ state watermarkState }

func (e *watermarkEstimator) CurrentWatermark() time.Time { return time.UnixMilli(e.state.Millis) }

// ObserveTimestamp is called by the SDK for each emitted element.
func (e *watermarkEstimator) ObserveTimestamp(t time.Time) {
	e.advance(t.UnixMilli())
}

// advanceIdle moves the watermark to the wall clock minus the lag: the
// subscription had nothing more to give.
func (e *watermarkEstimator) advanceIdle() {
	e.advance(time.Now().UnixMilli())
}

func (e *watermarkEstimator) advance(ms int64) {
	if limit := time.Now().UnixMilli() - e.state.LagMillis; ms > limit {
		ms = limit
	}
	if ms > e.state.Millis {
		e.state.Millis = ms
	}
}
