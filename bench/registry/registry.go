// Package registry is the name → factory table that methods, datasets and encoders add themselves to in
// init, as database/sql drivers do. The CLI only knows names.
package registry

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Entry is one registered item.
type Entry[T any] struct {
	Name        string
	Description string // one line, shown by `bench list`
	Value       T
}

// Registry maps names to entries of one kind.
type Registry[T any] struct {
	kind string // "method", "dataset", "encoder": used in error messages
	mu   sync.RWMutex
	m    map[string]Entry[T]
}

// New returns an empty registry for items of the given kind.
func New[T any](kind string) *Registry[T] {
	return &Registry[T]{kind: kind, m: map[string]Entry[T]{}}
}

// Register adds an entry; a duplicate name panics (a programming error, caught at start-up).
func (r *Registry[T]) Register(name, description string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[name]; dup {
		panic(fmt.Sprintf("registry: %s %q registered twice", r.kind, name))
	}
	r.m[name] = Entry[T]{Name: name, Description: description, Value: v}
}

// Lookup finds an entry; an unknown name is an error that lists the known ones.
func (r *Registry[T]) Lookup(name string) (Entry[T], error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.m[name]
	if !ok {
		return e, fmt.Errorf("unknown %s %q (known: %s)", r.kind, name, strings.Join(r.namesLocked(), ", "))
	}
	return e, nil
}

// Names lists the registered names, sorted.
func (r *Registry[T]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.namesLocked()
}

// Entries lists the entries sorted by name.
func (r *Registry[T]) Entries() []Entry[T] {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Entry[T]
	for _, n := range r.namesLocked() {
		out = append(out, r.m[n])
	}
	return out
}

func (r *Registry[T]) namesLocked() []string {
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
