package data

import "testing"

// AugmentSeed is a fixed function of (cell seed, epoch, sample) and differs when any of the three
// changes (no collision over a small grid).
func TestAugmentSeedDistinct(t *testing.T) {
	seen := map[uint64][3]int{}
	for seed := int64(-2); seed <= 3; seed++ {
		for epoch := 0; epoch < 20; epoch++ {
			for i := 0; i < 200; i++ {
				s := AugmentSeed(seed, epoch, i)
				if s != AugmentSeed(seed, epoch, i) {
					t.Fatal("AugmentSeed is not a function of its arguments")
				}
				if prev, dup := seen[s]; dup {
					t.Fatalf("AugmentSeed(%d, %d, %d) = AugmentSeed%v", seed, epoch, i, prev)
				}
				seen[s] = [3]int{int(seed), epoch, i}
			}
		}
	}
}
