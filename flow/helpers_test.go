package flow

import (
	"bufio"
	"bytes"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"dinotracker/imgproc"
)

// moduleRoot is the directory holding go.mod (the parent of this package).
func moduleRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Dir(filepath.Dir(file))
}

// flowDataDir returns <module root>/../shared/data/flow, skipping the test
// when it is absent.
func flowDataDir(t testing.TB) string {
	d := filepath.Join(moduleRoot(t), "..", "shared", "data", "flow")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("flow data not available: %v", err)
	}
	return d
}

// readPPM decodes a binary (P6) 8-bit PPM image.
func readPPM(path string) (*imgproc.RGB8, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(bytes.NewReader(data))
	var fields []int
	magic := make([]byte, 2)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != "P6" {
		return nil, fmt.Errorf("%s: not a P6 PPM", path)
	}
	for len(fields) < 3 {
		c, err := r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%s: truncated header", path)
		}
		switch {
		case c == '#':
			if _, err := r.ReadString('\n'); err != nil {
				return nil, fmt.Errorf("%s: truncated header", path)
			}
		case c >= '0' && c <= '9':
			tok := []byte{c}
			for {
				c, err = r.ReadByte()
				if err != nil || c < '0' || c > '9' {
					break
				}
				tok = append(tok, c)
			}
			v, _ := strconv.Atoi(string(tok))
			fields = append(fields, v)
		}
	}
	w, h, maxv := fields[0], fields[1], fields[2]
	if maxv != 255 || w <= 0 || h <= 0 || w*h > 1<<26 {
		return nil, fmt.Errorf("%s: unsupported PPM %dx%d max %d", path, w, h, maxv)
	}
	m := imgproc.NewRGB8(w, h)
	if _, err := io.ReadFull(r, m.Pix); err != nil {
		return nil, fmt.Errorf("%s: truncated pixels", path)
	}
	return m, nil
}

// readImage reads a PNG, JPEG or PPM frame.
func readImage(t testing.TB, path string) *imgproc.RGB8 {
	t.Helper()
	switch filepath.Ext(path) {
	case ".ppm":
		m, err := readPPM(path)
		if err != nil {
			t.Fatal(err)
		}
		return m
	case ".png":
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		return imgproc.FromImage(img)
	default:
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := imgproc.DecodeJPEG(f)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
}

// evalPair is one image pair with ground truth.
type evalPair struct {
	name   string
	a, b   *imgproc.RGB8
	gt     *Field
	zeroEP float64
}

// loadEvalPairs loads RubberWhale and FlyingChairs pairs 0–4.
func loadEvalPairs(t testing.TB) []evalPair {
	d := flowDataDir(t)
	var ps []evalPair
	mb := filepath.Join(d, "middlebury-rubberwhale")
	gt, err := ReadFlo(filepath.Join(mb, "flow10.flo"))
	if err != nil {
		t.Fatal(err)
	}
	ps = append(ps, evalPair{name: "rubberwhale", a: readImage(t, filepath.Join(mb, "frame10.png")), b: readImage(t, filepath.Join(mb, "frame11.png")), gt: gt})
	fc := filepath.Join(d, "flyingchairs-examples")
	for i := 0; i < 5; i++ {
		base := filepath.Join(fc, fmt.Sprintf("%07d", i))
		gt, err := ReadFlo(base + "-gt.flo")
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, evalPair{name: fmt.Sprintf("chairs%d", i), a: readImage(t, base+"-img0.ppm"), b: readImage(t, base+"-img1.ppm"), gt: gt})
	}
	return ps
}
