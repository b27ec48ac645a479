package rules

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/segmentflow/segmentflow/event"
)

// The rule variables are CEL object types of our own rather than
// reflection-backed native types: field names type-check the same way, but
// a field is read straight from the Go value and adapted to CEL at most once
// per event, which keeps evaluation within the 1 µs/event budget.
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
	typeEvent    = "rules.Event"
	typeUser     = "rules.User"
	typeStats    = "rules.Stats"
	typeCounters = "rules.Counters"
)

// field is one field of an object type; get reads it from the Go value.
type field struct {
	typ *types.Type
	get func(o any) ref.Val
}

type objectType struct {
	t      *types.Type
	names  []string
	fields map[string]*types.FieldType
	byName map[string]field
}

func newObjectType(name string, fs map[string]field) *objectType {
	o := &objectType{t: types.NewObjectType(name), fields: map[string]*types.FieldType{}, byName: fs}
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

func unwrap(obj any) any {
	if v, ok := obj.(*object); ok {
		return v.v
	}
	return obj
}

func isSet(v ref.Val) bool {
	switch x := v.(type) {
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
	return f.get(o.v)
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

// ruleTypes holds the four object types of one environment.
type ruleTypes struct {
	event, user, stats, counters *objectType
	adapter                      types.Adapter
}

var dynMap = types.NewMapType(types.StringType, types.DynType)

func newRuleTypes(adapter types.Adapter) *ruleTypes {
	rt := &ruleTypes{adapter: adapter}
	rt.counters = newObjectType(typeCounters, structFields(reflect.TypeFor[Counters](), nil))
	rt.stats = newObjectType(typeStats, structFields(reflect.TypeFor[Stats](), rt.counters))
	rt.user = newObjectType(typeUser, map[string]field{
		"traits": {dynMap, func(o any) ref.Val { return o.(*evalUser).traits() }},
		"stats":  {rt.stats.t, func(o any) ref.Val { return &object{rt.stats, &o.(*evalUser).u.Stats} }},
	})
	str := func(f func(e *event.Event) string) field {
		return field{types.StringType, func(o any) ref.Val { return types.String(f(o.(*evalEvent).ev)) }}
	}
	ts := func(f func(e *evalEvent) time.Time) field {
		return field{types.TimestampType, func(o any) ref.Val { return types.Timestamp{Time: f(o.(*evalEvent))} }}
	}
	rt.event = newObjectType(typeEvent, map[string]field{
		"name":         {types.StringType, func(o any) ref.Val { return o.(*evalEvent).name() }},
		"type":         str(func(e *event.Event) string { return string(e.Type) }),
		"user_id":      str(func(e *event.Event) string { return e.UserID }),
		"anonymous_id": str(func(e *event.Event) string { return e.AnonymousID }),
		"message_id":   str(func(e *event.Event) string { return e.MessageID }),
		"source":       str(func(e *event.Event) string { return e.Source }),
		"properties":   {dynMap, func(o any) ref.Val { return o.(*evalEvent).props() }},
		"context":      {dynMap, func(o any) ref.Val { return o.(*evalEvent).context() }},
		"traits":       {dynMap, func(o any) ref.Val { return o.(*evalEvent).traits() }},
		// timestamp is the device's time as sent, event_time the skew-corrected one.
		"timestamp":   ts(func(e *evalEvent) time.Time { return e.deviceTime() }),
		"event_time":  ts(func(e *evalEvent) time.Time { return e.at }),
		"received_at": ts(func(e *evalEvent) time.Time { return e.ev.ReceivedAt }),
	})
	return rt
}

// structFields maps a struct's fields to CEL by their json names: int64 to
// int, bool to bool, time.Time to timestamp, and Counters to its object.
func structFields(t reflect.Type, counters *objectType) map[string]field {
	fs := map[string]field{}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		idx := i
		val := func(o any) reflect.Value { return reflect.ValueOf(o).Elem().Field(idx) }
		switch {
		case sf.Type == reflect.TypeFor[time.Time]():
			fs[name] = field{types.TimestampType, func(o any) ref.Val { return types.Timestamp{Time: val(o).Interface().(time.Time)} }}
		case sf.Type == reflect.TypeFor[Counters]() && counters != nil:
			fs[name] = field{counters.t, func(o any) ref.Val { return &object{counters, val(o).Addr().Interface()} }}
		case sf.Type.Kind() == reflect.Int64:
			fs[name] = field{types.IntType, func(o any) ref.Val { return types.Int(val(o).Int()) }}
		case sf.Type.Kind() == reflect.Bool:
			fs[name] = field{types.BoolType, func(o any) ref.Val { return types.Bool(val(o).Bool()) }}
		default:
			panic(fmt.Sprintf("rules: field %s.%s of type %v has no CEL mapping", t.Name(), sf.Name, sf.Type))
		}
	}
	return fs
}

// evalEvent is one event as the rules of one Evaluate call see it. Maps
// and the name are adapted on first use and kept for the other rules.
type evalEvent struct {
	rt             *ruleTypes
	ev             *event.Event
	at             time.Time
	nm, pr, cx, tr ref.Val
}

func (e *evalEvent) name() ref.Val {
	if e.nm == nil {
		e.nm = types.String(e.ev.EventName())
	}
	return e.nm
}

func (e *evalEvent) props() ref.Val   { return lazyMap(&e.pr, e.rt.adapter, e.ev.Properties) }
func (e *evalEvent) context() ref.Val { return lazyMap(&e.cx, e.rt.adapter, e.ev.Context) }
func (e *evalEvent) traits() ref.Val  { return lazyMap(&e.tr, e.rt.adapter, e.ev.Traits) }

func (e *evalEvent) deviceTime() time.Time {
	if !e.ev.Timestamp.IsZero() {
		return e.ev.Timestamp
	}
	return e.at
}

var emptyMap = map[string]any{}

func lazyMap(slot *ref.Val, a types.Adapter, m map[string]any) ref.Val {
	if *slot == nil {
		if m == nil {
			m = emptyMap // `"k" in event.properties` is false, not an error
		}
		*slot = types.NewStringInterfaceMap(a, m)
	}
	return *slot
}

// evalUser is the user as the rules of one Evaluate call see it.
type evalUser struct {
	rt *ruleTypes
	u  *User
	tr ref.Val
}

func (u *evalUser) traits() ref.Val { return lazyMap(&u.tr, u.rt.adapter, u.u.Traits) }

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
