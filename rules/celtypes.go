package rules

import (
	"fmt"
	"reflect"
	"sync"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/segmentflow/segmentflow/event"
)

// The rule variables are CEL object types of our own rather than
// reflection-backed native types (ext.NativeTypes): field names type-check
// the same way, but a field is read by a plain Go function and every value
// is adapted to CEL at most once per event, however many rules read it.
// Reflection and the per-read copies of nested structs were most of the
// evaluation time.
//
//	rules.Event    name, type, user_id, anonymous_id, message_id, source: string
//	               properties, context, traits: map(string, dyn)
//	               timestamp, event_time, received_at: timestamp
//	rules.User     traits: map(string, dyn); stats: rules.Stats
//	rules.Stats    the json names of Stats (hourly, daily, ..., last_engagement, regular_player)
//	rules.Counters the json names of Counters (events, app_opens, ads_watched, ...)
//
// has(x.f) follows proto3: false for an empty string or map, a zero number,
// false, or a zero time (has(user.stats.first_seen) is false for a user the
// stats pipeline has not seen).
const (
	// EventType and UserType are the CEL type names of `event` and `user`,
	// for tools that list their fields (the console's schema).
	EventType    = "rules.Event"
	UserType     = "rules.User"
	typeStats    = "rules.Stats"
	typeCounters = "rules.Counters"
)

// field is one field of an object type; get reads it from the Go value the
// object wraps. It returns a CEL value, or a plain map[string]any that the
// interpreter indexes without adapting it first.
type field struct {
	typ *types.Type
	get func(o any) any
}

type objectType struct {
	t       *types.Type
	names   []string
	fields  map[string]*types.FieldType
	byName  map[string]field
	adapter types.Adapter
}

func newObjectType(name string, adapter types.Adapter, fs map[string]field) *objectType {
	o := &objectType{t: types.NewObjectType(name), fields: map[string]*types.FieldType{}, byName: fs, adapter: adapter}
	for n, f := range fs {
		o.names = append(o.names, n)
		o.fields[n] = &types.FieldType{
			Type:    f.typ,
			GetFrom: func(obj any) (any, error) { return f.get(unwrap(obj)), nil },
			IsSet:   func(obj any) bool { return isSet(f.get(unwrap(obj))) },
		}
	}
	return o
}

// unwrap gives the Go value behind an object; the interpreter passes field
// getters the object's Value(), but not on every path.
func unwrap(obj any) any {
	if v, ok := obj.(*object); ok {
		return v.v
	}
	return obj
}

func isSet(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) != 0
	case types.String:
		return x != ""
	case types.Int:
		return x != 0
	case types.Bool:
		return bool(x)
	case types.Timestamp:
		return !x.Time.IsZero()
	case *object:
		return x.v != nil
	}
	if s, ok := v.(interface{ Size() ref.Val }); ok {
		return s.Size() != types.IntZero
	}
	return v != nil
}

// object is a CEL value of one of our object types.
type object struct {
	ot *objectType
	v  any
}

func (o *object) ConvertToNative(t reflect.Type) (any, error) {
	if reflect.TypeOf(o.v).AssignableTo(t) {
		return o.v, nil
	}
	return nil, fmt.Errorf("%s cannot be converted to %v", o.ot.t.TypeName(), t)
}

func (o *object) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return o.ot.t
	}
	if t.TypeName() == o.ot.t.TypeName() {
		return o
	}
	return types.NewErr("type conversion error from %s to %s", o.ot.t.TypeName(), t.TypeName())
}

func (o *object) Equal(other ref.Val) ref.Val {
	p, ok := other.(*object)
	return types.Bool(ok && p.ot == o.ot && p.v == o.v)
}

func (o *object) Type() ref.Type { return o.ot.t }
func (o *object) Value() any     { return o.v }

// Get and IsSet serve field access through dyn, where the checker could not
// plan a typed field read.
func (o *object) Get(index ref.Val) ref.Val {
	f, ok := o.ot.byName[fmt.Sprint(index.Value())]
	if !ok {
		return types.NewErr("no such field %v on %s", index, o.ot.t.TypeName())
	}
	return o.ot.adapter.NativeToValue(f.get(o.v))
}

func (o *object) IsSet(index ref.Val) ref.Val {
	f, ok := o.ot.byName[fmt.Sprint(index.Value())]
	if !ok {
		return types.NewErr("no such field %v on %s", index, o.ot.t.TypeName())
	}
	return types.Bool(isSet(f.get(o.v)))
}

// typeProvider adds the rule object types to CEL's own.
type typeProvider struct {
	types.Provider
	objects map[string]*objectType
}

func (p *typeProvider) FindStructType(name string) (*types.Type, bool) {
	if o, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(o.t), true
	}
	return p.Provider.FindStructType(name)
}

func (p *typeProvider) FindStructFieldNames(name string) ([]string, bool) {
	if o, ok := p.objects[name]; ok {
		return o.names, true
	}
	return p.Provider.FindStructFieldNames(name)
}

func (p *typeProvider) FindStructFieldType(name, fieldName string) (*types.FieldType, bool) {
	if o, ok := p.objects[name]; ok {
		f, ok := o.fields[fieldName]
		return f, ok
	}
	return p.Provider.FindStructFieldType(name, fieldName)
}

func (p *typeProvider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.objects[name]; ok {
		return types.NewErr("%s values cannot be built in a rule", name)
	}
	return p.Provider.NewValue(name, fields)
}

// ruleTypes holds the four object types of one environment, and the
// evaluation states of the engines compiled in it.
type ruleTypes struct {
	event, user, stats, counters *objectType
	adapter                      types.Adapter
	states                       sync.Pool
}

var dynMap = types.NewMapType(types.StringType, types.DynType)

func newRuleTypes(adapter types.Adapter) *ruleTypes {
	rt := &ruleTypes{adapter: adapter}
	rt.counters = newObjectType(typeCounters, adapter, counterFields())
	rt.stats = newObjectType(typeStats, adapter, statsFields(rt.counters))
	rt.user = newObjectType(UserType, adapter, map[string]field{
		"traits": {dynMap, func(o any) any { return o.(*evalUser).u.Traits }},
		"stats":  {rt.stats.t, func(o any) any { return &o.(*evalUser).stats.obj }},
	})
	str := func(f func(e *event.Event) string) field {
		return field{types.StringType, func(o any) any { return types.String(f(o.(*evalEvent).ev)) }}
	}
	ts := func(f func(e *evalEvent) time.Time) field {
		return field{types.TimestampType, func(o any) any { return types.Timestamp{Time: f(o.(*evalEvent))} }}
	}
	rt.event = newObjectType(EventType, adapter, map[string]field{
		// name is the track call's event name, or the message type of any
		// other call, so identify/page/screen can be matched by name too.
		"name":         {types.StringType, func(o any) any { return o.(*evalEvent).name() }},
		"type":         str(func(e *event.Event) string { return string(e.Type) }),
		"user_id":      str(func(e *event.Event) string { return e.UserID }),
		"anonymous_id": str(func(e *event.Event) string { return e.AnonymousID }),
		"message_id":   str(func(e *event.Event) string { return e.MessageID }),
		"source":       str(func(e *event.Event) string { return e.Source }),
		// A nil map reads as an empty one: `"k" in event.properties` is
		// false, not an error.
		"properties": {dynMap, func(o any) any { return o.(*evalEvent).ev.Properties }},
		"context":    {dynMap, func(o any) any { return o.(*evalEvent).ev.Context }},
		"traits":     {dynMap, func(o any) any { return o.(*evalEvent).ev.Traits }},
		// timestamp is the device's time as sent, event_time the skew-corrected one.
		"timestamp":   ts(func(e *evalEvent) time.Time { return e.deviceTime() }),
		"event_time":  ts(func(e *evalEvent) time.Time { return e.at }),
		"received_at": ts(func(e *evalEvent) time.Time { return e.ev.ReceivedAt }),
	})
	return rt
}

// counterFields are the fields of Counters by their json names (a test
// keeps them in step with the struct).
func counterFields() map[string]field {
	c := func(f func(c *Counters) int64) field {
		return field{types.IntType, func(o any) any { return types.Int(f(o.(*Counters))) }}
	}
	return map[string]field{
		"events":       c(func(c *Counters) int64 { return c.Events }),
		"app_opens":    c(func(c *Counters) int64 { return c.AppOpens }),
		"ads_watched":  c(func(c *Counters) int64 { return c.AdsWatched }),
		"ads_skipped":  c(func(c *Counters) int64 { return c.AdsSkipped }),
		"ads_clicked":  c(func(c *Counters) int64 { return c.AdsClicked }),
		"cards_played": c(func(c *Counters) int64 { return c.CardsPlayed }),
	}
}

// statsFields are the fields of Stats by their json names; the counters
// of each period are objects made once per evaluation.
func statsFields(counters *objectType) map[string]field {
	period := func(i int) field {
		return field{counters.t, func(o any) any { return &o.(*evalStats).periods[i] }}
	}
	ts := func(f func(s *Stats) time.Time) field {
		return field{types.TimestampType, func(o any) any { return types.Timestamp{Time: f(o.(*evalStats).s)} }}
	}
	return map[string]field{
		"hourly":          period(0),
		"daily":           period(1),
		"monthly":         period(2),
		"yearly":          period(3),
		"last_engagement": ts(func(s *Stats) time.Time { return s.LastEngagement }),
		"first_seen":      ts(func(s *Stats) time.Time { return s.FirstSeen }),
		"regular_player":  {types.BoolType, func(o any) any { return types.Bool(o.(*evalStats).s.RegularPlayer) }},
	}
}

// evalEvent is one event as the rules of one Evaluate call see it. The
// name is adapted on first use and kept for the other rules.
type evalEvent struct {
	ev *event.Event
	at time.Time
	nm ref.Val
}

func (e *evalEvent) name() ref.Val {
	if e.nm == nil {
		e.nm = types.String(e.ev.EventName())
	}
	return e.nm
}

func (e *evalEvent) deviceTime() time.Time {
	if !e.ev.Timestamp.IsZero() {
		return e.ev.Timestamp
	}
	return e.at
}

// evalUser is the user as the rules of one Evaluate call see it.
type evalUser struct {
	u     *User
	stats evalStats
}

// evalStats holds the stats object and its four period objects, so that a
// rule reading user.stats.daily allocates nothing.
type evalStats struct {
	s       *Stats
	obj     object
	periods [4]object
}

// evalState is everything one Evaluate call adapts. States are pooled per
// engine: most of an evaluation's garbage was this.
type evalState struct {
	act      activation
	ev       evalEvent
	evObj    object
	usr      evalUser
	usrObj   object
	memoBuf  [16]ref.Val
	rawBuf   [8]any
	outcomes []types.Int
	results  []types.Int
	// fr is the interpreter frame over act that batches run on, made on
	// first use and kept with the state (a frame from NewExecutionFrame is
	// only ever returned to cel-go's pool by Close, which we never call, so
	// it holds nothing of a past evaluation but act, which is reset).
	fr *interpreter.ExecutionFrame
}

func (st *evalState) frame() *interpreter.ExecutionFrame {
	if st.fr == nil {
		fr, err := interpreter.NewExecutionFrame(&st.act)
		if err != nil {
			// Only a value that is not an activation is refused.
			panic(fmt.Sprintf("rules: execution frame: %v", err))
		}
		st.fr = fr
	}
	return st.fr
}

// prepare gives the activation n empty memo slots and k unset outcomes,
// and the state room for the results of r rules.
func (st *evalState) prepare(n, k, r int) {
	if cap(st.results) < r {
		st.results = make([]types.Int, r)
	}
	st.results = st.results[:r]
	if n <= len(st.memoBuf) {
		st.act.memo = st.memoBuf[:n]
		clear(st.act.memo)
	} else {
		st.act.memo = make([]ref.Val, n)
	}
	if cap(st.outcomes) < k {
		st.outcomes = make([]types.Int, k)
	}
	st.act.outcomes = st.outcomes[:k]
	for i := range st.act.outcomes {
		st.act.outcomes[i] = outcomeUnset
	}
}

// preparePaths gives the activation n unread raw path values.
func (st *evalState) preparePaths(n int) {
	if n <= len(st.rawBuf) {
		st.act.raw = st.rawBuf[:n]
		clear(st.act.raw)
	} else {
		st.act.raw = make([]any, n)
	}
}

func (rt *ruleTypes) getEvalState(ev *event.Event, u *User, now time.Time) *evalState {
	st, _ := rt.states.Get().(*evalState)
	if st == nil {
		st = rt.newEvalState()
	}
	if u == nil {
		u = &User{} // the user the platform has not seen
	}
	// Only what differs between evaluations is written: while the garbage
	// collector marks, every pointer written costs a barrier, and whole
	// struct copies cost bulk barriers.
	st.ev.ev, st.ev.at, st.ev.nm = ev, eventTime(ev), nil
	st.usr.u = u
	s := &st.usr.stats
	s.s = &u.Stats
	s.periods[0].v, s.periods[1].v, s.periods[2].v, s.periods[3].v = &u.Stats.Hourly, &u.Stats.Daily, &u.Stats.Monthly, &u.Stats.Yearly
	st.act.now, st.act.nowTime = nil, now
	return st
}

// newEvalState makes a state whose objects point at its own parts; those
// links never change.
func (rt *ruleTypes) newEvalState() *evalState {
	st := &evalState{}
	st.evObj = object{rt.event, &st.ev}
	s := &st.usr.stats
	s.obj = object{rt.stats, s}
	for i := range s.periods {
		s.periods[i].ot = rt.counters
	}
	st.usrObj = object{rt.user, &st.usr}
	st.act = activation{event: &st.evObj, user: &st.usrObj}
	return st
}

// putEvalState returns a state to the pool. It keeps its references to the
// last event and user until it is reused or the pool is emptied at the
// next collections: clearing the state here cost more write barriers than
// the rest of an evaluation.
func (rt *ruleTypes) putEvalState(st *evalState) {
	rt.states.Put(st)
}

// eventTime is the time a match is stamped with: the corrected event time,
// falling back to what the event carries when it was not normalized.
func eventTime(e *event.Event) time.Time {
	switch {
	case !e.EventTime.IsZero():
		return e.EventTime
	case !e.Timestamp.IsZero():
		return e.Timestamp
	case !e.OriginalTimestamp.IsZero():
		return e.OriginalTimestamp
	default:
		return e.ReceivedAt
	}
}
