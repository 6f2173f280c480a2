package torchrt

import (
	"math"

	"github.com/sugarme/gotch/ts"
)

// Scope collects the tensors created during one step so that they are all freed when the step ends.
// gotch tensors own C memory the Go garbage collector cannot see; leaving them to finalizers makes
// resident memory grow with the step count. Every op result inside a step goes through T:
//
//	s := torchrt.NewScope()
//	defer s.Drop()
//	h := s.T(x.MustRelu(false))
type Scope struct {
	tensors []*ts.Tensor
	scalars []*ts.Scalar
	values  []float64 // values[i] is scalars[i]'s value
}

// NewScope returns an empty scope.
func NewScope() *Scope { return &Scope{tensors: make([]*ts.Tensor, 0, 64)} }

// T registers t for freeing at Drop and returns it.
func (s *Scope) T(t *ts.Tensor) *ts.Tensor {
	s.tensors = append(s.tensors, t)
	return t
}

// Scalar returns a libtorch scalar of value v that stays alive until Drop, which frees it. Without a
// scope a scalar waits for a garbage-collector finalizer, and the collector rarely runs when the memory
// is in C (scalars piled up over a long sweep); a temporary like x.MustMulScalar(ts.FloatScalar(2),
// false) could also be finalized during the C call that reads it. A value asked for again before Drop
// gets the same scalar (scalars are immutable): a DMI step asks for 46 scalars of a dozen values, and
// each made costs two cgo calls.
func (s *Scope) Scalar(v float64) *ts.Scalar {
	for i, w := range s.values {
		if w == v && math.Signbit(w) == math.Signbit(v) { // 0 and -0 are different scalars
			return s.scalars[i]
		}
	}
	sc := ts.FloatScalar(v)
	s.scalars = append(s.scalars, sc)
	s.values = append(s.values, v)
	return sc
}

// Len is the number of tensors held.
func (s *Scope) Len() int { return len(s.tensors) }

// Drop frees every registered tensor and scalar. The scope can be reused afterwards.
func (s *Scope) Drop() {
	for i, t := range s.tensors {
		t.MustDrop()
		s.tensors[i] = nil
	}
	s.tensors = s.tensors[:0]
	for i, sc := range s.scalars {
		sc.MustDrop()
		s.scalars[i] = nil
	}
	s.scalars = s.scalars[:0]
	s.values = s.values[:0]
}

// Keep removes t from the scope so that it outlives Drop; the caller then owns it.
func (s *Scope) Keep(t *ts.Tensor) *ts.Tensor {
	for i := len(s.tensors) - 1; i >= 0; i-- {
		if s.tensors[i] == t {
			s.tensors = append(s.tensors[:i], s.tensors[i+1:]...)
			break
		}
	}
	return t
}
