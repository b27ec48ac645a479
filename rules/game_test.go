package rules

import (
	"os"
	"testing"
)

func loadGame(t testing.TB) *Engine {
	t.Helper()
	b, err := os.ReadFile("../testdata/rulesets/game.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := Compile(rs, 1)
	if err != nil {
		t.Fatalf("compile game.yaml: %v", err)
	}
	return eng
}

func TestGameRuleSetCompiles(t *testing.T) {
	eng := loadGame(t)
	names, anyEvent := eng.EventNames()
	t.Logf("indexed names %v any=%v", names, anyEvent)
}
