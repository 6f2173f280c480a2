package datasets

import (
	"testing"

	"github.com/mmfusion/bench/bench/data"
)

// Every dataset declares its modalities' roles where the kind of signal is known, in its modality
// order (CREMA-D and KS put audio first); synthetic and Boolean data declare none.
func TestModalityRoles(t *testing.T) {
	cases := []struct {
		spec    string
		fixture func(t *testing.T, dir string)
		want    []string
	}{
		{"avmnist:n_train=50,n_val=20,n_test=10", func(t *testing.T, dir string) { writeAVMNISTFixture(t, dir, 100, fixtureTakes) },
			[]string{data.RoleVisual, data.RoleAudio}},
		{"cremad", func(t *testing.T, dir string) { cremadFixture(t, dir, 5, 1) }, []string{data.RoleAudio, data.RoleVisual}},
		{"ks:classes=3", func(t *testing.T, dir string) { ksFixture(t, dir, 5, 1) }, []string{data.RoleAudio, data.RoleVisual}},
		{"ucf101", func(t *testing.T, dir string) { ucfFixture(t, dir) }, []string{data.RoleVisual, data.RoleFlow}},
		{"mosei", func(t *testing.T, dir string) { moseiFixture(t, dir) }, []string{data.RoleVisual, data.RoleAudio, data.RoleText}},
		{"mosei:modalities=text+audio", func(t *testing.T, dir string) { moseiFixture(t, dir) }, []string{data.RoleText, data.RoleAudio}},
		{"rosmap", func(t *testing.T, dir string) { defaultRosmapFixture.write(t, dir) }, []string{data.RoleOmics, data.RoleOmics}},
		{"synthetic:train=40,val=20,test=20", nil, []string{"", ""}},
		{"boolean", nil, []string{"", ""}},
	}
	for _, c := range cases {
		dir := t.TempDir()
		if c.fixture != nil {
			c.fixture(t, dir)
		}
		s := loadSpec(t, c.spec, 1, dir)
		var got []string
		for _, m := range s.Modalities {
			got = append(got, m.Role)
		}
		if len(got) != len(c.want) {
			t.Fatalf("%s: roles %q, want %q", c.spec, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: modality %s has role %q, want %q", c.spec, s.Modalities[i].Name, got[i], c.want[i])
			}
		}
	}
}
