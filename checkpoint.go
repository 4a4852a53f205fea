package dinotracker

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"dinotracker/nn"
	"dinotracker/pth"
	"dinotracker/safetensors"
	"dinotracker/tensor"
)

// Checkpoints and model files.
//
// A training checkpoint (work folder checkpoints/checkpoint_NNNNNNNN.safetensors,
// N = iterations done) holds everything a resumed Fit needs to continue
// exactly as an uninterrupted one would:
//
//	delta_dino/<state_dict name>                Delta-DINO weights, BN γ/β and running statistics
//	tracker_head/<state_dict name>              refiner weights (cnn_refiner.0.weight, …)
//	adam/delta_dino/exp_avg/<name>, exp_avg_sq  Adam moments of the Delta-DINO group
//	adam/tracker_head/exp_avg/<name>, …         Adam moments of the head group
//
// with the scalars in the metadata: iteration, scheduler step, each group's
// Adam step count, BatchNorm num_batches_tracked, the sampler's generator
// state (which also draws every random choice of the losses), and a
// fingerprint of what the state depends on (frames, resolution, channels,
// extractor, widths, seed), checked on load. Files are written atomically.
//
// Model files use the reference's PyTorch state_dict names: delta_dino
// ("layers.0.weight", …, "layers.1.running_mean", "layers.1.num_batches_tracked",
// "layers.3.filt") and tracker_head ("cnn_refiner.0.weight", …). SaveModel
// writes them as safetensors; LoadModel reads those or the reference's
// released torch.save files (delta_dino_10000.pt, tracker_head_10000.pt)
// through package pth, and both go through the same name and shape mapping
// (DeltaDINOFromState, HeadFromState).

const checkpointFormat = "dinotracker-fit-checkpoint/1"

var checkpointName = regexp.MustCompile(`^checkpoint_(\d+)\.safetensors$`)

// CheckpointPath returns the path of the checkpoint after iter iterations
// in a checkpoint folder.
func CheckpointPath(dir string, iter int) string {
	return filepath.Join(dir, fmt.Sprintf("checkpoint_%08d.safetensors", iter))
}

// checkpoints lists the checkpoints in dir by ascending iteration.
func checkpoints(dir string) (paths []string, iters []int) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil
	}
	type ck struct {
		path string
		it   int
	}
	var cs []ck
	for _, e := range ents {
		m := checkpointName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		it, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		cs = append(cs, ck{filepath.Join(dir, e.Name()), it})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].it < cs[j].it })
	for _, c := range cs {
		paths, iters = append(paths, c.path), append(iters, c.it)
	}
	return paths, iters
}

// latestCheckpoint returns the checkpoint with the most iterations in dir.
func latestCheckpoint(dir string) (path string, iter int, ok bool) {
	ps, its := checkpoints(dir)
	if len(ps) == 0 {
		return "", 0, false
	}
	return ps[len(ps)-1], its[len(its)-1], true
}

// fingerprint describes what a checkpoint's state depends on.
type fingerprint struct {
	Frames      int    `json:"frames"`
	Height      int    `json:"height"`
	Width       int    `json:"width"`
	Channels    int    `json:"channels"`
	Extractor   string `json:"extractor"`
	DeltaWidths [3]int `json:"delta_widths"`
	Seed        uint64 `json:"seed"`
}

func (tr *trainer) fingerprint() string {
	b, _ := json.Marshal(fingerprint{Frames: tr.pre.T, Height: tr.h, Width: tr.w, Channels: tr.c,
		Extractor: tr.pre.Features.Model, DeltaWidths: tr.cfg.DeltaWidths, Seed: tr.cfg.Seed})
	return string(b)
}

// checkpointEntries lists the tensors of a checkpoint, aliasing the state.
func (tr *trainer) checkpointEntries() []safetensors.Entry {
	var es []safetensors.Entry
	for _, st := range DeltaDINOState(tr.delta) {
		if strings.HasSuffix(st.Name, ".filt") || strings.HasSuffix(st.Name, ".num_batches_tracked") {
			continue // constants; num_batches_tracked is in the metadata
		}
		es = append(es, safetensors.Entry{Name: "delta_dino/" + st.Name, DType: "F32", Shape: st.Shape, Data: st.Data})
	}
	for _, st := range HeadState(tr.head) {
		es = append(es, safetensors.Entry{Name: "tracker_head/" + st.Name, DType: "F32", Shape: st.Shape, Data: st.Data})
	}
	for _, g := range []struct {
		name string
		opt  *adamGroup
	}{{"delta_dino", tr.optDelta}, {"tracker_head", tr.optHead}} {
		for i, p := range g.opt.params {
			es = append(es,
				safetensors.Entry{Name: "adam/" + g.name + "/exp_avg/" + p.name, DType: "F32", Shape: p.shape, Data: g.opt.m[i]},
				safetensors.Entry{Name: "adam/" + g.name + "/exp_avg_sq/" + p.name, DType: "F32", Shape: p.shape, Data: g.opt.v[i]})
		}
	}
	return es
}

// saveCheckpoint writes the training state to dir (atomically) and keeps
// only the latest keep checkpoints there (0 keeps all).
func (tr *trainer) saveCheckpoint(dir string, keep int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	rng, err := tr.sampler.MarshalBinary()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	nbt := make([]int64, len(tr.delta.Stages))
	for i, s := range tr.delta.Stages {
		nbt[i] = s.NumBatchesTracked
	}
	nbtJSON, _ := json.Marshal(nbt)
	cfgJSON, _ := json.Marshal(tr.cfg)
	meta := map[string]string{
		"format":                 checkpointFormat,
		"iteration":              strconv.Itoa(tr.iter),
		"scheduler_step":         strconv.Itoa(tr.sched),
		"adam_step_delta_dino":   strconv.Itoa(tr.optDelta.steps),
		"adam_step_tracker_head": strconv.Itoa(tr.optHead.steps),
		"num_batches_tracked":    string(nbtJSON),
		"sampler_state":          hex.EncodeToString(rng),
		"fingerprint":            tr.fingerprint(),
		"config":                 string(cfgJSON),
	}
	path := CheckpointPath(dir, tr.iter)
	if err := safetensors.WriteFile(path, tr.checkpointEntries(), meta); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if keep > 0 {
		ps, _ := checkpoints(dir)
		for i := 0; i < len(ps)-keep; i++ {
			if ps[i] != path {
				os.Remove(ps[i])
			}
		}
	}
	tr.log.Info("fit: checkpoint written", "path", path, "iteration", tr.iter)
	return nil
}

// loadCheckpoint restores the training state from a checkpoint file.
func (tr *trainer) loadCheckpoint(path string) error {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return err
	}
	md := f.Metadata
	if md["format"] != checkpointFormat {
		return fmt.Errorf("not a training checkpoint of this version (format %q, want %q)", md["format"], checkpointFormat)
	}
	if fp := tr.fingerprint(); md["fingerprint"] != fp {
		return fmt.Errorf("the checkpoint was made for %s, this run is %s", md["fingerprint"], fp)
	}
	ints := map[string]*int{"iteration": &tr.iter, "scheduler_step": &tr.sched,
		"adam_step_delta_dino": &tr.optDelta.steps, "adam_step_tracker_head": &tr.optHead.steps}
	for k, dst := range ints {
		v, err := strconv.Atoi(md[k])
		if err != nil || v < 0 {
			return fmt.Errorf("metadata %s = %q is not a count", k, md[k])
		}
		*dst = v
	}
	var nbt []int64
	if err := json.Unmarshal([]byte(md["num_batches_tracked"]), &nbt); err != nil || len(nbt) != len(tr.delta.Stages) {
		return fmt.Errorf("metadata num_batches_tracked = %q: want %d counts", md["num_batches_tracked"], len(tr.delta.Stages))
	}
	for i, s := range tr.delta.Stages {
		s.NumBatchesTracked = nbt[i]
	}
	rng, err := hex.DecodeString(md["sampler_state"])
	if err != nil {
		return fmt.Errorf("metadata sampler_state: %w", err)
	}
	if err := tr.sampler.UnmarshalBinary(rng); err != nil {
		return err
	}
	for _, e := range tr.checkpointEntries() {
		t, ok := f.Tensors[e.Name]
		if !ok {
			return fmt.Errorf("tensor %s missing", e.Name)
		}
		if !sameShape(t.Shape, e.Shape) || t.DType != "F32" {
			return fmt.Errorf("tensor %s is %s %v, want F32 %v", e.Name, t.DType, t.Shape, e.Shape)
		}
		v, err := t.Float32()
		if err != nil {
			return fmt.Errorf("tensor %s: %w", e.Name, err)
		}
		copy(e.Data, v)
	}
	return nil
}

func sameShape(a, b []int) bool {
	if tensor.NumElements(a) != tensor.NumElements(b) {
		return false
	}
	// Scalars may be stored as [] or [1].
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// StateTensor is one named tensor of a PyTorch-style state_dict. Data
// aliases the model's values where the model holds them.
type StateTensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// DeltaDINOState lists Delta-DINO's state_dict as the reference's
// DeltaDINO module names it, in its order: per stage the conv weight and
// bias (layers.4i.weight, .bias), the BatchNorm weight, bias, running_mean,
// running_var and num_batches_tracked (layers.4i+1.*), and for the first
// three stages the BlurPool filter (layers.4i+3.filt, a constant). The
// num_batches_tracked and filt values are copies; the others alias d.
func DeltaDINOState(d *nn.DeltaDINO) []StateTensor {
	var out []StateTensor
	for i, s := range d.Stages {
		c, b := fmt.Sprintf("layers.%d.", 4*i), fmt.Sprintf("layers.%d.", 4*i+1)
		out = append(out,
			StateTensor{c + "weight", []int{s.Cout, s.Cin, s.Kernel, s.Kernel}, s.Weight.Data},
			StateTensor{c + "bias", []int{s.Cout}, s.Bias.Data},
			StateTensor{b + "weight", []int{s.Cout}, s.Gamma.Data},
			StateTensor{b + "bias", []int{s.Cout}, s.Beta.Data},
			StateTensor{b + "running_mean", []int{s.Cout}, s.RunningMean},
			StateTensor{b + "running_var", []int{s.Cout}, s.RunningVar},
			StateTensor{b + "num_batches_tracked", []int{}, []float32{float32(s.NumBatchesTracked)}})
		if s.Blur {
			out = append(out, StateTensor{fmt.Sprintf("layers.%d.filt", 4*i+3), []int{s.Cout, 1, 4, 4}, nn.BlurFilter(s.Cout)})
		}
	}
	return out
}

// HeadState lists the tracker head's state_dict (cnn_refiner.0.weight,
// cnn_refiner.0.bias, cnn_refiner.2.weight, cnn_refiner.2.bias), aliasing h.
func HeadState(h *Head) []StateTensor {
	var out []StateTensor
	for _, p := range h.Refiner.Params() {
		out = append(out, StateTensor{p.Name, p.Shape, p.Data})
	}
	return out
}

// stripKnownPrefix removes a common wrapper prefix ("module.", "delta_dino.",
// "tracker_head.", "state_dict.") from every key when all keys have it.
func stripKnownPrefix(sd map[string]*tensor.Tensor, prefixes ...string) map[string]*tensor.Tensor {
	for _, p := range append(prefixes, "module", "state_dict", "model") {
		all := len(sd) > 0
		for k := range sd {
			if !strings.HasPrefix(k, p+".") {
				all = false
				break
			}
		}
		if all {
			sd = pth.StripPrefix(sd, p)
		}
	}
	return sd
}

// DeltaDINOFromState builds a Delta-DINO from a state_dict with the
// reference's names (see DeltaDINOState), e.g. from ReadStateDict on
// delta_dino_10000.pt. The widths and the output channels come from the
// conv weight shapes; every weight, bias, BN parameter and running
// statistic must be present with a consistent shape; num_batches_tracked
// is optional (0 when absent) and the BlurPool filters, if present, must be
// the constant filter.
func DeltaDINOFromState(sd map[string]*tensor.Tensor) (*nn.DeltaDINO, error) {
	sd = stripKnownPrefix(sd, "delta_dino")
	var ws [3]int
	cout := 0
	cin := 3
	for i := 0; i < 4; i++ {
		name := fmt.Sprintf("layers.%d.weight", 4*i)
		t, ok := sd[name]
		if !ok {
			return nil, fmt.Errorf("delta_dino state_dict: %s missing (is this a Delta-DINO checkpoint? keys are like layers.0.weight)", name)
		}
		if len(t.Shape) != 4 || t.Shape[1] != cin || t.Shape[2] != 5 || t.Shape[3] != 5 {
			return nil, fmt.Errorf("delta_dino state_dict: %s has shape %v, want [out, %d, 5, 5]", name, t.Shape, cin)
		}
		if i < 3 {
			ws[i] = t.Shape[0]
		} else {
			cout = t.Shape[0]
		}
		cin = t.Shape[0]
	}
	d := newDeltaDINO(0, ws, cout)
	for _, st := range DeltaDINOState(d) {
		t, ok := sd[st.Name]
		isNBT := strings.HasSuffix(st.Name, ".num_batches_tracked")
		isFilt := strings.HasSuffix(st.Name, ".filt")
		if !ok {
			if isNBT || isFilt {
				continue
			}
			return nil, fmt.Errorf("delta_dino state_dict: %s missing", st.Name)
		}
		if !sameShape(t.Shape, st.Shape) {
			return nil, fmt.Errorf("delta_dino state_dict: %s has shape %v, want %v", st.Name, t.Shape, st.Shape)
		}
		switch {
		case isNBT:
			var s int
			fmt.Sscanf(st.Name, "layers.%d.", &s)
			d.Stages[(s-1)/4].NumBatchesTracked = int64(t.Data[0])
		case isFilt:
			for k, v := range st.Data {
				if t.Data[k] != v {
					return nil, fmt.Errorf("delta_dino state_dict: %s is not BlurPool's [1,3,3,1]⊗[1,3,3,1]/64 filter", st.Name)
				}
			}
		default:
			copy(st.Data, t.Data)
		}
	}
	return d, nil
}

// HeadFromState builds a tracker head from a state_dict with the
// reference's names (cnn_refiner.0.weight [16,1,3,3], cnn_refiner.0.bias
// [16], cnn_refiner.2.weight [1,16,3,3], cnn_refiner.2.bias [1]), e.g. from
// ReadStateDict on tracker_head_10000.pt.
func HeadFromState(sd map[string]*tensor.Tensor) (*Head, error) {
	sd = stripKnownPrefix(sd, "tracker_head")
	h := &Head{Refiner: *NewRefinerZero()}
	for _, st := range HeadState(h) {
		t, ok := sd[st.Name]
		if !ok {
			return nil, fmt.Errorf("tracker_head state_dict: %s missing (keys are like cnn_refiner.0.weight)", st.Name)
		}
		if !sameShape(t.Shape, st.Shape) {
			return nil, fmt.Errorf("tracker_head state_dict: %s has shape %v, want %v", st.Name, t.Shape, st.Shape)
		}
		copy(st.Data, t.Data)
	}
	return h, nil
}

// ReadStateDict reads a state_dict file: a torch.save archive (.pt/.pth,
// read by package pth without executing pickled code) or a safetensors
// file. Every tensor comes back as float32 (num_batches_tracked included).
func ReadStateDict(path string) (map[string]*tensor.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var magic [2]byte
	_, err = f.Read(magic[:])
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if string(magic[:]) == "PK" {
		return pth.ReadFile(path)
	}
	st, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*tensor.Tensor, len(st.Tensors))
	for name, t := range st.Tensors {
		tt, err := t.Tensor()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		out[name] = tt
	}
	return out, nil
}

// LoadModel loads a fitted model from its two state_dict files: SaveModel's
// delta_dino.safetensors and tracker_head.safetensors, or the reference's
// released delta_dino_<it>.pt and tracker_head_<it>.pt (for those, Track
// needs DINOv2 ViT-L/14 features: the output width is 1024).
func LoadModel(deltaPath, headPath string) (*Model, error) {
	sd, err := ReadStateDict(deltaPath)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: load Delta-DINO: %w", err)
	}
	d, err := DeltaDINOFromState(sd)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: %s: %w", deltaPath, err)
	}
	if sd, err = ReadStateDict(headPath); err != nil {
		return nil, fmt.Errorf("dinotracker: load tracker head: %w", err)
	}
	h, err := HeadFromState(sd)
	if err != nil {
		return nil, fmt.Errorf("dinotracker: %s: %w", headPath, err)
	}
	return &Model{Delta: d, Head: h}, nil
}

// Model file names in a model folder (SaveModel).
const (
	DeltaDINOFile   = "delta_dino.safetensors"
	TrackerHeadFile = "tracker_head.safetensors"
)

// SaveModel writes m into dir as DeltaDINOFile and TrackerHeadFile
// (safetensors, float32, the reference's state_dict names, atomically).
func SaveModel(dir string, m *Model) error {
	if m == nil || m.Delta == nil || m.Head == nil {
		return errors.New("dinotracker: save model: no model")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dinotracker: save model: %w", err)
	}
	write := func(name string, sts []StateTensor) error {
		es := make([]safetensors.Entry, len(sts))
		for i, st := range sts {
			es[i] = safetensors.Entry{Name: st.Name, DType: "F32", Shape: st.Shape, Data: st.Data}
		}
		return safetensors.WriteFile(filepath.Join(dir, name), es, map[string]string{"format": "pt"})
	}
	if err := write(DeltaDINOFile, DeltaDINOState(m.Delta)); err != nil {
		return fmt.Errorf("dinotracker: save model: %w", err)
	}
	if err := write(TrackerHeadFile, HeadState(m.Head)); err != nil {
		return fmt.Errorf("dinotracker: save model: %w", err)
	}
	return nil
}
