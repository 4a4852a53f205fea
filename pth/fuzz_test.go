package pth

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func realPickle(f *testing.F) []byte {
	b, err := os.ReadFile(filepath.Join(goldenDir, "weights_hub.pth"))
	if err != nil {
		f.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		f.Fatal(err)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		f.Fatal(err)
	}
	defer rc.Close()
	p, err := io.ReadAll(rc)
	if err != nil {
		f.Fatal(err)
	}
	return p
}

// FuzzPickle runs the restricted unpickler and the flattener on arbitrary
// bytes, seeded with the real data.pkl of weights_hub.pth and crafted
// pickles, then loads the pickle as the data.pkl of a checkpoint whose
// storages 0..4 hold 64 bytes each, so that hostile views reach the
// materialisation code (zip CRCs keep FuzzReadPth's mutations from getting
// that far).
func FuzzPickle(f *testing.F) {
	f.Add(realPickle(f))
	f.Add(newPickle().tensor("HalfStorage", "0", 6, 1, []int64{2, 2}, []int64{1, 2}).op(opStop).Bytes())
	f.Add(newPickle().op(opEmptyDict, opBinput, 0).str("self").op(opBinget, 0, opSetitem, opStop).Bytes())
	small := smallCheckpoint(f)
	zr, err := zip.NewReader(bytes.NewReader(small), int64(len(small)))
	if err != nil {
		f.Fatal(err)
	}
	rc, err := zr.Open("ck/data.pkl")
	if err != nil {
		f.Fatal(err)
	}
	pkl, err := io.ReadAll(rc)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pkl)
	storage := make([]byte, 64)
	for i := range storage {
		storage[i] = byte(i*37 + 11)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The numpy dialect runs the same opcode loop: it must not panic either.
		if _, err := UnpickleNumpy(data); err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("UnpickleNumpy error does not wrap ErrFormat: %v", err)
		}
		root, _, err := unpickle(data)
		if err != nil {
			return
		}
		refs, _, err := flatten(root)
		if err != nil {
			return
		}
		for _, r := range refs {
			checkView(r)
		}
		entries := []zipEntry{{"f/data.pkl", data}}
		for _, k := range []string{"0", "1", "2", "3", "4"} {
			entries = append(entries, zipEntry{"f/data/" + k, storage})
		}
		z := makeZip(t, entries)
		c, err := Load(bytes.NewReader(z), int64(len(z)))
		if err != nil {
			return
		}
		for k, v := range c.Tensors {
			if len(v.Data) != v.Len() {
				t.Fatalf("%s: %d values for shape %v", k, len(v.Data), v.Shape)
			}
		}
	})
}

// FuzzReadPth loads arbitrary bytes as a checkpoint, seeded with small
// crafted zip checkpoints.
func FuzzReadPth(f *testing.F) {
	f.Add(smallCheckpoint(f))
	p := newPickle().tensor("FloatStorage", "0", 4, 0, []int64{2, 2}, []int64{1, 2}).op(opStop)
	f.Add(makeZip(f, []zipEntry{{"a/data.pkl", p.Bytes()}, {"a/data/0", f32bytes(1, 2, 3, 4)}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Load(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for k, v := range c.Tensors {
			if len(v.Data) != v.Len() {
				t.Fatalf("%s: %d values for shape %v", k, len(v.Data), v.Shape)
			}
		}
	})
}
