package tensorboard

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"time"

	tbpb "github.com/mmfusion/bench/bench/tensorboard/proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// FileVersion is the file_version of an event file's first event.
const FileVersion = "brain.Event:2"

// Tags of the HParams plugin's session summaries, and its plugin name.
const (
	PluginHParams      = "hparams"
	TagSessionStart    = "_hparams_/session_start_info"
	TagSessionEnd      = "_hparams_/session_end_info"
	sourceWriterName   = "github.com/mmfusion/bench"
	hparamsDataVersion = 0
)

// Writer writes the events of one file, one TFRecord frame (one write) per event, so a TensorBoard
// reading the file meanwhile sees every epoch as it is written. After a write error every later
// call returns that error and writes nothing.
type Writer struct {
	w   io.Writer
	now func() time.Time
	buf []byte
	err error
}

// NewWriter writes the file-version event to w and returns a writer of further events. now gives
// each event's wall time (time.Now when nil).
func NewWriter(w io.Writer, now func() time.Time) (*Writer, error) {
	if now == nil {
		now = time.Now
	}
	wr := &Writer{w: w, now: now}
	return wr, wr.write(&tbpb.Event{What: &tbpb.Event_FileVersion{FileVersion: FileVersion},
		SourceMetadata: &tbpb.SourceMetadata{Writer: sourceWriterName}}, 0)
}

func wallTime(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func (w *Writer) write(ev *tbpb.Event, step int64) error {
	if w.err != nil {
		return w.err
	}
	ev.WallTime, ev.Step = wallTime(w.now()), step
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(ev)
	if err != nil {
		w.err = err
		return err
	}
	w.buf = AppendRecord(w.buf[:0], b)
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = err
	}
	return w.err
}

// Scalar is one value of a summary.
type Scalar struct {
	Tag   string
	Value float64 // stored as float32, as TensorBoard stores scalars
}

// Scalars writes one event at step holding every value (nothing when vals is empty).
func (w *Writer) Scalars(step int64, vals ...Scalar) error {
	if len(vals) == 0 {
		return w.err
	}
	s := &tbpb.Summary{}
	for _, v := range vals {
		s.Value = append(s.Value, &tbpb.Summary_Value{Tag: v.Tag,
			Value: &tbpb.Summary_Value_SimpleValue{SimpleValue: float32(v.Value)}})
	}
	return w.write(&tbpb.Event{What: &tbpb.Event_Summary{Summary: s}}, step)
}

// SessionStart writes the HParams plugin's session start: the hyper-parameters (string, float64,
// int, int64 or bool values), the group name ("" = the session is its own group) and start time.
func (w *Writer) SessionStart(hparams map[string]any, group string, start time.Time) error {
	info := &tbpb.SessionStartInfo{Hparams: map[string]*structpb.Value{}, GroupName: group, StartTimeSecs: wallTime(start)}
	for k, v := range hparams {
		var pv *structpb.Value
		switch x := v.(type) {
		case string:
			pv = structpb.NewStringValue(x)
		case bool:
			pv = structpb.NewBoolValue(x)
		case float64:
			pv = structpb.NewNumberValue(x)
		case int:
			pv = structpb.NewNumberValue(float64(x))
		case int64:
			pv = structpb.NewNumberValue(float64(x))
		default:
			return fmt.Errorf("hparam %s: unsupported value %T", k, v)
		}
		info.Hparams[k] = pv
	}
	return w.hparams(TagSessionStart, &tbpb.HParamsPluginData{Version: hparamsDataVersion,
		Data: &tbpb.HParamsPluginData_SessionStartInfo{SessionStartInfo: info}})
}

// SessionEnd writes the HParams plugin's session end with its status.
func (w *Writer) SessionEnd(status tbpb.Status, end time.Time) error {
	return w.hparams(TagSessionEnd, &tbpb.HParamsPluginData{Version: hparamsDataVersion,
		Data: &tbpb.HParamsPluginData_SessionEndInfo{SessionEndInfo: &tbpb.SessionEndInfo{Status: status, EndTimeSecs: wallTime(end)}}})
}

// hparams writes a summary value whose metadata carries the plugin data (TensorBoard's hparams
// summaries carry nothing else of use; TensorBoard supplies the null tensor of such a value).
func (w *Writer) hparams(tag string, data *tbpb.HParamsPluginData) error {
	content, err := proto.MarshalOptions{Deterministic: true}.Marshal(data)
	if err != nil {
		return err
	}
	v := &tbpb.Summary_Value{Tag: tag, Metadata: &tbpb.SummaryMetadata{
		PluginData: &tbpb.SummaryMetadata_PluginData{PluginName: PluginHParams, Content: content},
		DataClass:  tbpb.DataClass_DATA_CLASS_TENSOR}}
	return w.write(&tbpb.Event{What: &tbpb.Event_Summary{Summary: &tbpb.Summary{Value: []*tbpb.Summary_Value{v}}}}, 0)
}

// Err is the first write error, if any.
func (w *Writer) Err() error { return w.err }

// hparamValue is a record's string parameter as TensorBoard should compare it: a finite number
// when it reads as one, a bool for true/false, else the string.
func hparamValue(s string) any {
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return f
	}
	if b, err := strconv.ParseBool(s); err == nil && (s == "true" || s == "false") {
		return b
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
