package rules

import (
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/parser"
)

// The project functions of the rule language (docs/rules-engine.md):
//
//	age(date) int                      whole years from date to now
//	hours_since(time) int              whole hours from time to now
//	days_since(time) int               whole days from time to now
//	within(time, duration) bool        time lies in the last duration before now (and not after now)
//	has_any(list, list) bool           the lists share an element
//	has_all(list, list) bool           the first list holds every element of the second
//	to_time(string) timestamp          parses RFC 3339 or YYYY-MM-DD
//
// A time argument is a timestamp or a string (traits arrive as JSON strings):
// RFC 3339 or a plain date YYYY-MM-DD.
//
// The time functions are relative to `now`, never the wall clock, so a rule
// gives the same answer when events are replayed. A macro rewrites the
// one-argument forms into calls that take `now` as a hidden last argument.
func projectFunctions() cel.EnvOption {
	timeArg := []*cel.Type{cel.TimestampType, cel.StringType}
	var opts []cel.EnvOption

	var ageOverloads, hoursOverloads, daysOverloads, withinOverloads []cel.FunctionOpt
	for _, t := range timeArg {
		n := strings.ToLower(t.String())
		ageOverloads = append(ageOverloads, cel.Overload("age_"+n+"_now", []*cel.Type{t, cel.TimestampType}, cel.IntType,
			cel.BinaryBinding(func(d, now ref.Val) ref.Val {
				return since(d, now, func(from, to time.Time) int64 { return years(from, to) })
			})))
		hoursOverloads = append(hoursOverloads, cel.Overload("hours_since_"+n+"_now", []*cel.Type{t, cel.TimestampType}, cel.IntType,
			cel.BinaryBinding(func(d, now ref.Val) ref.Val {
				return since(d, now, func(from, to time.Time) int64 { return int64(to.Sub(from) / time.Hour) })
			})))
		daysOverloads = append(daysOverloads, cel.Overload("days_since_"+n+"_now", []*cel.Type{t, cel.TimestampType}, cel.IntType,
			cel.BinaryBinding(func(d, now ref.Val) ref.Val {
				return since(d, now, func(from, to time.Time) int64 { return int64(to.Sub(from) / (24 * time.Hour)) })
			})))
		withinOverloads = append(withinOverloads, cel.Overload("within_"+n+"_duration_now", []*cel.Type{t, cel.DurationType, cel.TimestampType}, cel.BoolType,
			cel.FunctionBinding(func(args ...ref.Val) ref.Val {
				at, err := toTime(args[0])
				if err != nil {
					return types.NewErrFromString(err.Error())
				}
				d, ok := args[1].(types.Duration)
				if !ok {
					return types.MaybeNoSuchOverloadErr(args[1])
				}
				now, ok := args[2].(types.Timestamp)
				if !ok {
					return types.MaybeNoSuchOverloadErr(args[2])
				}
				return types.Bool(!at.After(now.Time) && now.Time.Sub(at) <= d.Duration)
			})))
	}
	opts = append(opts,
		cel.Function("age", ageOverloads...),
		cel.Function("hours_since", hoursOverloads...),
		cel.Function("days_since", daysOverloads...),
		cel.Function("within", withinOverloads...),
		cel.Function("has_any",
			cel.Overload("has_any_list_list", []*cel.Type{cel.ListType(cel.DynType), cel.ListType(cel.DynType)}, cel.BoolType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val { return listOverlap(a, b, false) }))),
		cel.Function("has_all",
			cel.Overload("has_all_list_list", []*cel.Type{cel.ListType(cel.DynType), cel.ListType(cel.DynType)}, cel.BoolType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val { return listOverlap(a, b, true) }))),
		cel.Function("to_time",
			cel.Overload("to_time_string", []*cel.Type{cel.StringType}, cel.TimestampType,
				cel.UnaryBinding(func(s ref.Val) ref.Val {
					t, err := toTime(s)
					if err != nil {
						return types.NewErrFromString(err.Error())
					}
					return types.Timestamp{Time: t}
				}))),
		cel.Macros(
			nowMacro("age", 1),
			nowMacro("hours_since", 1),
			nowMacro("days_since", 1),
			nowMacro("within", 2),
		),
	)
	return func(e *cel.Env) (*cel.Env, error) {
		var err error
		for _, o := range opts {
			if e, err = o(e); err != nil {
				return nil, err
			}
		}
		return e, nil
	}
}

// nowMacro rewrites fn(args...) into fn(args..., now).
func nowMacro(fn string, argc int) cel.Macro {
	return cel.GlobalMacro(fn, argc, func(eh parser.ExprHelper, _ ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
		full := append(append([]ast.Expr{}, args...), eh.NewIdent(varNow))
		return eh.NewCall(fn, full...), nil
	})
}

func since(d, now ref.Val, f func(from, to time.Time) int64) ref.Val {
	from, err := toTime(d)
	if err != nil {
		return types.NewErrFromString(err.Error())
	}
	n, ok := now.(types.Timestamp)
	if !ok {
		return types.MaybeNoSuchOverloadErr(now)
	}
	return types.Int(f(from, n.Time))
}

// years counts whole years from birth to now, the way people count age.
func years(birth, now time.Time) int64 {
	birth, now = birth.UTC(), now.UTC()
	y := now.Year() - birth.Year()
	if now.Month() < birth.Month() || (now.Month() == birth.Month() && now.Day() < birth.Day()) {
		y--
	}
	return int64(y)
}

func toTime(v ref.Val) (time.Time, error) {
	switch t := v.(type) {
	case types.Timestamp:
		return t.Time, nil
	case types.String:
		return parseDate(string(t))
	}
	return time.Time{}, fmt.Errorf("want a timestamp or date string, got %s", v.Type().TypeName())
}

func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02", "2006-01-02T15:04:05", "2006/01/02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (want RFC 3339 or YYYY-MM-DD)", s)
}

func listOverlap(a, b ref.Val, all bool) ref.Val {
	la, ok := a.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(a)
	}
	lb, ok := b.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(b)
	}
	if all {
		for it := lb.Iterator(); it.HasNext() == types.True; {
			if la.Contains(it.Next()) != types.True {
				return types.False
			}
		}
		return types.True
	}
	for it := la.Iterator(); it.HasNext() == types.True; {
		if lb.Contains(it.Next()) == types.True {
			return types.True
		}
	}
	return types.False
}
