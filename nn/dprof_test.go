package nn

import (
	"os"
	"runtime/pprof"
	"testing"
)

func TestDeltaProf8(t *testing.T) {
	if os.Getenv("DPROF") == "" {
		t.Skip()
	}
	n, h, w := 8, 476, 854
	d := NewDeltaDINO(1)
	for _, s := range d.Stages {
		KaimingUniform(s.Weight.Data, s.Cin*25, newRand(5).Float64)
	}
	frames := randSlice(newRand(6), n*3*h*w, 0, 1)
	out, _, _ := d.Forward(frames, n, h, w, true)
	dout := randSlice(newRand(7), len(out), -1, 1)
	d.Backward(dout)
	f, _ := os.Create(os.Getenv("DPROF"))
	pprof.StartCPUProfile(f)
	d.Forward(frames, n, h, w, true)
	d.Backward(dout)
	pprof.StopCPUProfile()
	f.Close()
}
