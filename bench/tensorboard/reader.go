package tensorboard

import (
	"bytes"
	"fmt"
	"os"

	"github.com/mmfusion/bench/bench/store"
	tbpb "github.com/mmfusion/bench/bench/tensorboard/proto"
	"google.golang.org/protobuf/proto"
)

// Point is one scalar value at a step.
type Point struct {
	Step  int64   `json:"step"`
	Value float64 `json:"value"` // a float32 value, widened
}

// RunData is what one event file says, in the terms TensorBoard shows: the scalars by tag (in
// file order), the hyper-parameters of the session start and the status of the session end
// ("STATUS_SUCCESS", …; "" when the file has none).
type RunData struct {
	Scalars map[string][]Point `json:"scalars"`
	HParams map[string]any     `json:"hparams"`
	Status  string             `json:"status"`
}

// ReadEvents reads an event file's events, checking the framing and that the first event is the
// file version.
func ReadEvents(path string) ([]*tbpb.Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	recs, err := ReadRecords(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	evs := make([]*tbpb.Event, len(recs))
	for i, r := range recs {
		evs[i] = &tbpb.Event{}
		if err := proto.Unmarshal(r, evs[i]); err != nil {
			return nil, fmt.Errorf("%s: event %d: %w", path, i, err)
		}
	}
	if len(evs) == 0 || evs[0].GetFileVersion() != FileVersion {
		return nil, fmt.Errorf("%s: first event is not the file version %q", path, FileVersion)
	}
	return evs, nil
}

// ReadRun reads an event file into RunData.
func ReadRun(path string) (*RunData, error) {
	evs, err := ReadEvents(path)
	if err != nil {
		return nil, err
	}
	d := &RunData{Scalars: map[string][]Point{}}
	for _, ev := range evs {
		for _, v := range ev.GetSummary().GetValue() {
			if md := v.GetMetadata().GetPluginData(); md.GetPluginName() == PluginHParams {
				var hp tbpb.HParamsPluginData
				if err := proto.Unmarshal(md.GetContent(), &hp); err != nil {
					return nil, fmt.Errorf("%s: %s: %w", path, v.GetTag(), err)
				}
				if s := hp.GetSessionStartInfo(); s != nil {
					d.HParams = map[string]any{}
					for k, x := range s.GetHparams() {
						d.HParams[k] = x.AsInterface()
					}
				}
				if e := hp.GetSessionEndInfo(); e != nil {
					d.Status = e.GetStatus().String()
				}
				continue
			}
			if sv, ok := v.GetValue().(*tbpb.Summary_Value_SimpleValue); ok {
				d.Scalars[v.GetTag()] = append(d.Scalars[v.GetTag()], Point{ev.GetStep(), float64(sv.SimpleValue)})
			}
		}
	}
	return d, nil
}

// Expected is what the event file of a stored record holds: every epoch's scalars, the final ones,
// its hyper-parameters (key is the cell key) and its end status, values rounded to float32.
func Expected(r *store.Record, key string) *RunData {
	d := &RunData{Scalars: map[string][]Point{}, HParams: map[string]any{}, Status: tbpb.Status_STATUS_FAILURE.String()}
	if r.Status == store.StatusOK {
		d.Status = tbpb.Status_STATUS_SUCCESS.String()
	}
	add := func(step int64, ss []Scalar) {
		for _, s := range ss {
			d.Scalars[s.Tag] = append(d.Scalars[s.Tag], Point{step, float64(float32(s.Value))})
		}
	}
	for _, es := range r.Curves {
		add(int64(es.Epoch), EpochScalars(es))
	}
	add(finalStep(r), FinalScalars(r))
	for k, v := range HParams(r, key) { // as TensorBoard reads them back: numbers are float64
		switch x := v.(type) {
		case int:
			v = float64(x)
		case int64:
			v = float64(x)
		}
		d.HParams[k] = v
	}
	return d
}
