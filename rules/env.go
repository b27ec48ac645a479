package rules

import (
	"fmt"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
)

// Variable names and CEL type names of the rule environment.
const (
	varEvent = "event"
	varUser  = "user"
	varNow   = "now"
)

// NewEnv returns the CEL environment rules are checked and run in. It is
// exported so tools (the console's autocompletion, the rules API's dry run)
// see exactly what Compile sees.
func NewEnv() (*cel.Env, error) {
	env, _, err := newEnv()
	return env, err
}

func newEnv() (*cel.Env, *ruleTypes, error) {
	var rt *ruleTypes
	withTypes := func(e *cel.Env) (*cel.Env, error) {
		rt = newRuleTypes(e.CELTypeAdapter())
		p := &typeProvider{Provider: e.CELTypeProvider(), objects: map[string]*objectType{
			EventType: rt.event, UserType: rt.user, typeStats: rt.stats, typeCounters: rt.counters,
		}}
		return cel.CustomTypeProvider(p)(e)
	}
	env, err := cel.NewEnv(
		cel.Variable(varEvent, cel.ObjectType(EventType)),
		cel.Variable(varUser, cel.ObjectType(UserType)),
		cel.Variable(varNow, cel.TimestampType),
		ext.Strings(),
		ext.Lists(),
		ext.Sets(),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		// Macro calls are kept so a rule's expression prints back as its
		// author wrote it (the batches of batch.go are built from that).
		cel.EnableMacroCallTracking(),
		projectFunctions(),
		// Last: extensions register types through the default registry,
		// which they cannot once it is wrapped.
		withTypes,
	)
	if err != nil {
		return nil, nil, fmt.Errorf("rules: cel environment: %w", err)
	}
	return env, rt, nil
}

// typeName is the CEL name of a type, for messages.
func typeName(t *types.Type) string {
	switch t.TypeName() {
	case EventType:
		return "event"
	case UserType:
		return "user"
	}
	return t.String()
}
