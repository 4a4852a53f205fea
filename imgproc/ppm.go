package imgproc

import (
	"bufio"
	"fmt"
	"io"
)

// MaxPPMPixels bounds the size DecodePPM accepts before allocating.
const MaxPPMPixels = 1 << 26

// DecodePPM decodes a binary 8-bit PPM (P6, maxval ≤ 255) image, the format
// of the FlyingChairs examples. Values are rescaled to 0…255 when maxval is
// below 255.
func DecodePPM(r io.Reader) (*RGB8, error) {
	br := bufio.NewReader(r)
	var magic string
	var w, h, maxval int
	if _, err := fmt.Fscan(br, &magic); err != nil || magic != "P6" {
		return nil, fmt.Errorf("imgproc: not a binary PPM (P6) file")
	}
	for _, dst := range []*int{&w, &h, &maxval} {
		if err := skipPPMComments(br); err != nil {
			return nil, err
		}
		if _, err := fmt.Fscan(br, dst); err != nil {
			return nil, fmt.Errorf("imgproc: PPM header: %w", err)
		}
	}
	if w <= 0 || h <= 0 || w*h > MaxPPMPixels || maxval <= 0 || maxval > 255 {
		return nil, fmt.Errorf("imgproc: PPM %dx%d maxval %d is not supported (8-bit, at most %d pixels)", w, h, maxval, MaxPPMPixels)
	}
	if _, err := br.ReadByte(); err != nil { // the single whitespace after maxval
		return nil, fmt.Errorf("imgproc: PPM header: %w", err)
	}
	m := NewRGB8(w, h)
	if _, err := io.ReadFull(br, m.Pix); err != nil {
		return nil, fmt.Errorf("imgproc: PPM pixel data (truncated file?): %w", err)
	}
	if maxval != 255 {
		for i, v := range m.Pix {
			m.Pix[i] = uint8((int(v)*255 + maxval/2) / maxval)
		}
	}
	return m, nil
}

func skipPPMComments(br *bufio.Reader) error {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return fmt.Errorf("imgproc: PPM header: %w", err)
		}
		switch b[0] {
		case ' ', '\t', '\n', '\r':
			br.ReadByte()
		case '#':
			if _, err := br.ReadString('\n'); err != nil {
				return fmt.Errorf("imgproc: PPM header: %w", err)
			}
		default:
			return nil
		}
	}
}
