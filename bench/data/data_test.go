package data

import (
	"math"
	"strings"
	"testing"
)

func tiny() *Set {
	split := func(y ...int64) *Split {
		x := make([]float32, 2*len(y))
		return &Split{X: [][]float32{x, append([]float32(nil), x...)}, Y: y}
	}
	return &Set{Name: "tiny", NumClasses: 2,
		Modalities: []Modality{{Name: "a", Shape: []int64{2}}, {Name: "b", Shape: []int64{2}}},
		Train:      split(0, 1, 0), Val: split(1), Test: split(0, 1)}
}

// Bad data are refused by Finish with an error naming the problem.
func TestFinishRefusesBadData(t *testing.T) {
	cases := []struct {
		name   string
		breakf func(s *Set)
		want   string
	}{
		{"label out of range", func(s *Set) { s.Test.Y[1] = 2 }, "test split, sample 1: label 2 out of range [0, 2)"},
		{"negative label", func(s *Set) { s.Val.Y[0] = -1 }, "val split, sample 0: label -1 out of range"},
		{"NaN", func(s *Set) { s.Train.X[1][3] = float32(math.NaN()) }, "train split, modality b: non-finite value NaN in sample 1"},
		{"Inf", func(s *Set) { s.Val.X[0][0] = float32(math.Inf(1)) }, "val split, modality a: non-finite value +Inf in sample 0"},
		{"empty split", func(s *Set) { s.Val = &Split{X: [][]float32{nil, nil}} }, "val split is empty"},
		{"zero samples after filtering", func(s *Set) { s.Test = &Split{} }, "test split is empty"},
		{"class missing from training", func(s *Set) { s.Train.Y = []int64{0, 0, 0} }, "class 1 is missing from the training split"},
		{"wrong feature count", func(s *Set) { s.Train.X[0] = s.Train.X[0][:5] }, "modality a: 5 values for 3 samples of shape [2] (want 6)"},
		{"missing modality", func(s *Set) { s.Test.X = s.Test.X[:1] }, "test split has 1 modalities, want 2"},
		{"one class", func(s *Set) { s.NumClasses = 1 }, "1 classes; need at least 2"},
	}
	for _, c := range cases {
		s := tiny()
		c.breakf(s)
		err := s.Finish()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	if err := tiny().Finish(); err != nil {
		t.Fatalf("good data refused: %v", err)
	}
}

func TestChecksumChangesWithData(t *testing.T) {
	a, b := tiny(), tiny()
	b.Train.X[0][0] = 1
	a.Finish()
	b.Finish()
	if a.SHA256 == b.SHA256 || len(a.SHA256) != 64 {
		t.Fatalf("checksums %s %s", a.SHA256, b.SHA256)
	}
}

func TestParseSpec(t *testing.T) {
	name, p, err := ParseSpec("synthetic:mix=S,train=500")
	if err != nil || name != "synthetic" || p["mix"] != "S" || p["train"] != "500" {
		t.Fatalf("ParseSpec = %s %v %v", name, p, err)
	}
	for _, bad := range []string{"", ":mix=S", "synthetic:mix", "synthetic:mix=S,mix=R", "synthetic:a=b=c"} {
		if _, _, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) accepted", bad)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"synthetic:mix=S,train=500", "boolean", "a:b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, p, err := ParseSpec(s)
		if err == nil && (name == "" || p == nil) {
			t.Fatalf("ParseSpec(%q) = %q, %v", s, name, p)
		}
	})
}

// A declared role does not enter the checksum (so cell keys of existing datasets do not change), and
// an unknown role is refused.
func TestRolesAreNotInTheChecksum(t *testing.T) {
	a, b := tiny(), tiny()
	b.Modalities[0].Role, b.Modalities[1].Role = RoleAudio, RoleVisual
	if err := a.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	if a.SHA256 != b.SHA256 {
		t.Fatalf("roles changed the checksum: %s vs %s", a.SHA256, b.SHA256)
	}
	if m := b.Meta(); m.Modalities[0].Role != RoleAudio || m.Modalities[1].Role != RoleVisual {
		t.Fatalf("Meta lost the roles: %+v", m.Modalities)
	}
	c := tiny()
	c.Modalities[1].Role = "video"
	if err := c.Finish(); err == nil || !strings.Contains(err.Error(), `modality b: unknown role "video"`) {
		t.Fatalf("unknown role: err = %v", err)
	}
}
