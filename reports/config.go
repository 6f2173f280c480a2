package reports

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mmfusion/bench/bench/store"
)

// configField is one training setting that makes records of the same label different rows.
type configField struct {
	name string
	// searched is set for settings that bench tune chooses per (method, dataset, encoder): a
	// "(tuned)" row is one configuration although they differ between its columns.
	searched bool
	get      func(r *store.Record) any // a string, or a number as float64
}

// configFields are the settings of a row's configuration, in the order of CSV columns and label
// suffixes. Threads are not among them: they change speed, not results. A record field that
// changes results (e.g. a training recipe) is one more line here; CSV, JSON, labels, grouping and
// baselines follow.
var configFields = []configField{
	{"epochs", false, func(r *store.Record) any { return float64(r.Train.Epochs) }},
	{"lr", true, func(r *store.Record) any { return r.Train.LR }},
	{"batch_size", true, func(r *store.Record) any { return float64(r.Train.BatchSize) }},
	{"momentum", false, func(r *store.Record) any { return r.Train.Momentum }},
	{"weight_decay", false, func(r *store.Record) any { return r.Train.WeightDecay }},
	{"optimizer", false, func(r *store.Record) any { return r.Train.Optimizer }},
	{"recipe", false, func(r *store.Record) any { return r.Train.Recipe }}, // "" under the shared protocol
}

// Config is what, beside its label, makes a row (and a baseline group): the training settings of
// its records and the method's hyper-parameters. Two records of one label are in the same row only
// when their Configs are equal. Numbers are float64 and the rest strings, so a Config read back
// from JSON equals the one built from records. For a "(tuned)" row the settings bench tune searched
// (learning rate, batch size, the method's hyper-parameters) are left out.
type Config struct {
	Train        map[string]any    `json:"train"`                   // configFields name → value
	MethodParams map[string]string `json:"method_params,omitempty"` // every hyper-parameter, defaults included
}

func configOf(r *store.Record) Config {
	tuned := r.Tuning != nil
	c := Config{Train: map[string]any{}}
	for _, f := range configFields {
		if !(tuned && f.searched) {
			c.Train[f.name] = f.get(r)
		}
	}
	if !tuned && len(r.MethodParams) > 0 {
		c.MethodParams = maps.Clone(r.MethodParams)
	}
	return c
}

// configText is the text of a setting in labels, CSV and keys; "" for an absent one.
func configText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case json.Number:
		return x.String()
	case int:
		return strconv.Itoa(x)
	}
	return fmt.Sprint(v)
}

// key identifies the configuration. Settings with an empty value are left out, so a setting added
// to configFields later (empty in old records) does not separate old baselines from new results.
func (c *Config) key() string {
	if c == nil {
		return ""
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(c.Train)) {
		if v := configText(c.Train[k]); v != "" {
			b.WriteString(k + "=" + v + "\x00")
		}
	}
	b.WriteString("\x01")
	for _, k := range slices.Sorted(maps.Keys(c.MethodParams)) {
		b.WriteString(k + "=" + c.MethodParams[k] + "\x00")
	}
	return b.String()
}

// setting is one named value of a Config, for labels and ordering.
type setting struct {
	name  string
	param bool // a method hyper-parameter, not a training setting
}

// settingNames lists the settings any of cs has: training settings in configFields order (others,
// from a newer baseline file, sorted after them), then method hyper-parameters sorted.
func settingNames(cs []*Config) []setting {
	train, params := map[string]bool{}, map[string]bool{}
	for _, c := range cs {
		if c == nil {
			continue
		}
		for k := range c.Train {
			train[k] = true
		}
		for k := range c.MethodParams {
			params[k] = true
		}
	}
	var out []setting
	for _, f := range configFields {
		if train[f.name] {
			out = append(out, setting{name: f.name})
			delete(train, f.name)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(train)) {
		out = append(out, setting{name: k})
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		out = append(out, setting{name: k, param: true})
	}
	return out
}

func (c *Config) value(s setting) any {
	if c == nil {
		return nil
	}
	if s.param {
		if v, ok := c.MethodParams[s.name]; ok {
			return v
		}
		return nil
	}
	return c.Train[s.name]
}

// compareConfigs orders configurations setting by setting (nil first; numbers, and parameters that
// parse as numbers, numerically).
func compareConfigs(a, b *Config, names []setting) int {
	if a == nil || b == nil {
		return cmp.Compare(btoi(a != nil), btoi(b != nil))
	}
	for _, s := range names {
		if c := compareSetting(a.value(s), b.value(s)); c != 0 {
			return c
		}
	}
	return 0
}

func compareSetting(x, y any) int {
	xs, ys := configText(x), configText(y)
	if xs == "" || ys == "" {
		return cmp.Compare(btoi(xs != ""), btoi(ys != ""))
	}
	xf, errx := strconv.ParseFloat(xs, 64)
	yf, erry := strconv.ParseFloat(ys, 64)
	if errx == nil && erry == nil {
		return cmp.Compare(xf, yf)
	}
	return cmp.Compare(xs, ys)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// configSuffixes returns, for the configurations of one label, the label suffix of each:
// " [name=value,...]" with the settings whose values differ among them (an absent setting is left
// out of its row). One configuration, or nil ones, get "": a method with a single configuration
// keeps its plain label.
func configSuffixes(cs []*Config) []string {
	out := make([]string, len(cs))
	names := settingNames(cs)
	var varying []setting
	for _, s := range names {
		seen := map[string]bool{}
		for _, c := range cs {
			if c != nil {
				seen[configText(c.value(s))] = true
			}
		}
		if len(seen) > 1 {
			varying = append(varying, s)
		}
	}
	if len(varying) == 0 {
		return out
	}
	for i, c := range cs {
		if c == nil {
			continue
		}
		var items []string
		for _, s := range varying {
			if v := configText(c.value(s)); v != "" {
				items = append(items, s.name+"="+v)
			}
		}
		if len(items) > 0 {
			out[i] = " [" + strings.Join(items, ",") + "]"
		}
	}
	return out
}
