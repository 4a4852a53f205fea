package imgproc

import (
	"bytes"
	"testing"
)

func TestDecodePPM(t *testing.T) {
	data := append([]byte("P6\n# comment\n2 1\n255\n"), 1, 2, 3, 4, 5, 6)
	m, err := DecodePPM(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if m.W != 2 || m.H != 1 || !bytes.Equal(m.Pix, []byte{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("%+v", m)
	}
	for _, bad := range [][]byte{[]byte("P3\n1 1\n255\n"), []byte("P6\n1 1\n65535\n"), append([]byte("P6 2 2 255\n"), 1, 2, 3), []byte("P6\n100000 100000\n255\n")} {
		if _, err := DecodePPM(bytes.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad[:min(len(bad), 20)])
		}
	}
}
