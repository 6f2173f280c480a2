package suites

import (
	"strings"
	"testing"
)

// Every committed suite parses strictly and the ones the issue asks for are there.
func TestCommittedSuitesParse(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"dmi/ablation", "dmi/fig1", "dmi/tab2", "dmi/tab4", "dmi/tab5-rosmap"}
	if got := strings.Join(Names(), " "); got != strings.Join(want, " ") {
		t.Fatalf("suites %q, want %q", got, want)
	}
	for _, s := range all {
		if s.Kind == KindPID && len(s.PaperPID) == 0 {
			t.Errorf("%s: a PID suite without paper rows", s.Name)
		}
	}
}

func TestParseRejects(t *testing.T) {
	base := `{"title":"t","source":"s","methods":["joint"],"datasets":[{"label":"A","spec":"synthetic"}],"encoders":["mlp"],"seeds":1,"epochs":1`
	for _, c := range []struct{ body, want string }{
		{base + `,"typo":1}`, "unknown field"},
		{base + `,"recipes":["fast"]}`, "recipe"},
		{base + `,"paper":{"acc":{"dmi":{"A":1}}}}`, "not in the suite"},
		{base + `,"paper":{"acc":{"joint":{"B":1}}}}`, "dataset \"B\""},
		{base + `,"metrics":["f1"]}`, "metric"},
		{strings.Replace(base, `"seeds":1`, `"seeds":0`, 1) + `}`, "seeds"},
	} {
		if _, err := Parse("x", []byte(c.body)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.body, err, c.want)
		}
	}
	if _, err := Parse("x", []byte(base+`}`)); err != nil {
		t.Fatal(err)
	}
}
