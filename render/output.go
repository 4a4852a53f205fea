package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"dinotracker"
	"dinotracker/safetensors"
)

// checkFrames checks that there is at least one image and that all have
// the size of the first.
func checkFrames(imgs []*image.RGBA) (w, h int, err error) {
	if len(imgs) == 0 {
		return 0, 0, errors.New("no frames to write")
	}
	for i, m := range imgs {
		if m == nil {
			return 0, 0, fmt.Errorf("frame %d is nil", i)
		}
		if i == 0 {
			w, h = m.Bounds().Dx(), m.Bounds().Dy()
			if w <= 0 || h <= 0 {
				return 0, 0, fmt.Errorf("frame 0 is empty (%v)", m.Bounds())
			}
		} else if m.Bounds().Dx() != w || m.Bounds().Dy() != h {
			return 0, 0, fmt.Errorf("frame %d is %dx%d but frame 0 is %dx%d", i, m.Bounds().Dx(), m.Bounds().Dy(), w, h)
		}
	}
	return w, h, nil
}

// plan9 is palette.Plan9 with a 15-bit nearest-colour lookup table.
var plan9 struct {
	once sync.Once
	pal  color.Palette
	rgb  [][3]int32
	lut  []uint8 // [r>>3<<10 | g>>3<<5 | b>>3] → palette index
}

func plan9Table() {
	plan9.once.Do(func() {
		plan9.pal = palette.Plan9
		plan9.rgb = make([][3]int32, len(plan9.pal))
		for i, c := range plan9.pal {
			r, g, b, _ := c.RGBA()
			plan9.rgb[i] = [3]int32{int32(r >> 8), int32(g >> 8), int32(b >> 8)}
		}
		plan9.lut = make([]uint8, 1<<15)
		for k := range plan9.lut {
			r, g, b := int32(k>>10)<<3|4, int32(k>>5&31)<<3|4, int32(k&31)<<3|4
			best, bestD := 0, int32(math.MaxInt32)
			for i, c := range plan9.rgb {
				dr, dg, db := r-c[0], g-c[1], b-c[2]
				if d := dr*dr + dg*dg + db*db; d < bestD {
					best, bestD = i, d
				}
			}
			plan9.lut[k] = uint8(best)
		}
	})
}

// quantize maps m to palette.Plan9 with Floyd–Steinberg error diffusion
// (colours looked up at 5 bits per channel).
func quantize(m *image.RGBA) *image.Paletted {
	plan9Table()
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewPaletted(image.Rect(0, 0, w, h), plan9.pal)
	// Error rows of the current and next line, with one guard pixel each side,
	// in 1/16 units.
	cur := make([][3]int32, w+2)
	nxt := make([][3]int32, w+2)
	for y := range h {
		src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
		dst := out.Pix[y*out.Stride:]
		for x := range w {
			var v [3]int32
			for c := range 3 {
				v[c] = min(max(int32(src[4*x+c])+(cur[x+1][c]+8)>>4, 0), 255)
			}
			idx := plan9.lut[v[0]>>3<<10|v[1]>>3<<5|v[2]>>3]
			dst[x] = idx
			p := plan9.rgb[idx]
			for c := range 3 {
				e := v[c] - p[c]
				cur[x+2][c] += 7 * e
				nxt[x][c] += 3 * e
				nxt[x+1][c] += 5 * e
				nxt[x+2][c] += e
			}
		}
		cur, nxt = nxt, cur
		clear(nxt)
	}
	return out
}

// WriteGIF writes the images as a looping animated GIF with delay between
// frames (rounded to GIF's 10 ms unit, at least 10 ms). Colours are mapped
// to the fixed palette.Plan9 with Floyd–Steinberg dithering, frames in
// parallel. All images must have the same size.
func WriteGIF(w io.Writer, imgs []*image.RGBA, delay time.Duration) error {
	width, height, err := checkFrames(imgs)
	if err != nil {
		return fmt.Errorf("render: write GIF: %w", err)
	}
	d := max(int((delay+5*time.Millisecond)/(10*time.Millisecond)), 1)
	plan9Table()
	g := &gif.GIF{Image: make([]*image.Paletted, len(imgs)), Delay: make([]int, len(imgs)),
		Config: image.Config{ColorModel: plan9.pal, Width: width, Height: height}}
	parallel(len(imgs), func(i int) error {
		g.Image[i] = quantize(imgs[i])
		g.Delay[i] = d
		return nil
	})
	if err := gif.EncodeAll(w, g); err != nil {
		return fmt.Errorf("render: write GIF: %w", err)
	}
	return nil
}

// WritePNGs writes the images to dir (created if needed) as
// frame_00000.png, frame_00001.png, …, each atomically (temporary file,
// then rename), in parallel.
func WritePNGs(dir string, imgs []*image.RGBA) error {
	if _, _, err := checkFrames(imgs); err != nil {
		return fmt.Errorf("render: write PNGs: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("render: write PNGs: %w", err)
	}
	enc := &png.Encoder{CompressionLevel: png.BestSpeed}
	return parallel(len(imgs), func(i int) error {
		path := filepath.Join(dir, fmt.Sprintf("frame_%05d.png", i))
		if err := safetensors.WriteAtomic(path, func(w io.Writer) error { return enc.Encode(w, imgs[i]) }); err != nil {
			return fmt.Errorf("render: %w", err)
		}
		return nil
	})
}

// ffmpegEncoders caches, per ffmpeg binary, whether it has libx264.
var ffmpegEncoders sync.Map // path → bool

func hasLibx264(ctx context.Context, ffmpeg string) bool {
	if v, ok := ffmpegEncoders.Load(ffmpeg); ok {
		return v.(bool)
	}
	out, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-encoders").Output()
	ok := err == nil && bytes.Contains(out, []byte(" libx264 "))
	if err == nil {
		ffmpegEncoders.Store(ffmpeg, ok)
	}
	return ok
}

// WriteMP4 encodes the images as an H.264 MP4 at fps frames a second with
// the ffmpeg command-line tool (raw RGB piped in; libx264, yuv420p, odd
// sizes padded by one pixel; MPEG-4 part 2 if this ffmpeg has no libx264).
// The file is written to a temporary name in the same directory and renamed
// to path on success. Without ffmpeg on PATH the error wraps
// dinotracker.ErrFFmpegMissing. Cancelling ctx stops ffmpeg.
func WriteMP4(ctx context.Context, path string, imgs []*image.RGBA, fps float64) (err error) {
	w, h, err := checkFrames(imgs)
	if err != nil {
		return fmt.Errorf("render: write %s: %w", path, err)
	}
	if !(fps > 0) || math.IsInf(fps, 0) {
		return fmt.Errorf("render: write %s: frame rate %v must be positive", path, fps)
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		return fmt.Errorf("render: write %s: %w on PATH: install it (apt-get install ffmpeg) or write a .gif or a folder of PNGs instead",
			path, dinotracker.ErrFFmpegMissing)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("render: write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer func() {
		if err != nil {
			os.Remove(tmpName)
		}
	}()
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", w, h),
		"-framerate", strconv.FormatFloat(fps, 'g', -1, 64), "-i", "pipe:0",
		"-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"}
	if hasLibx264(ctx, ffmpeg) {
		args = append(args, "-c:v", "libx264", "-preset", "medium", "-crf", "18")
	} else {
		args = append(args, "-c:v", "mpeg4", "-q:v", "3")
	}
	args = append(args, "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", tmpName)
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("render: write %s: %w", path, err)
	}
	if err = cmd.Start(); err != nil {
		return fmt.Errorf("render: write %s: start ffmpeg: %w", path, err)
	}
	row := make([]byte, 3*w)
	var werr error
	for _, m := range imgs {
		b := m.Bounds()
		for y := b.Min.Y; y < b.Max.Y && werr == nil; y++ {
			src := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := range w {
				row[3*x], row[3*x+1], row[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
			}
			_, werr = stdin.Write(row)
		}
		if werr != nil {
			break
		}
	}
	stdin.Close()
	if err = cmd.Wait(); err != nil || werr != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		} else if err == nil {
			err = werr
		}
		return fmt.Errorf("render: write %s: ffmpeg: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	if err = os.Chmod(tmpName, 0o644); err != nil {
		return fmt.Errorf("render: write %s: %w", path, err)
	}
	if err = os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("render: write %s: %w", path, err)
	}
	return nil
}

// WriteFile writes the images to path in the form its name asks for: an
// animated GIF (.gif, WriteGIF, written atomically), an MP4 (.mp4,
// WriteMP4), or a folder of PNG frames (WritePNGs) when path is an existing
// directory, ends in a path separator or has no extension. fps is the frame
// rate of the GIF or MP4.
func WriteFile(ctx context.Context, path string, imgs []*image.RGBA, fps float64) error {
	if !(fps > 0) || math.IsInf(fps, 0) {
		return fmt.Errorf("render: write %s: frame rate %v must be positive", path, fps)
	}
	if st, err := os.Stat(path); (err == nil && st.IsDir()) || strings.HasSuffix(path, string(os.PathSeparator)) || strings.HasSuffix(path, "/") {
		return WritePNGs(path, imgs)
	}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".gif":
		if _, _, err := checkFrames(imgs); err != nil {
			return fmt.Errorf("render: write %s: %w", path, err)
		}
		delay := time.Duration(float64(time.Second) / fps)
		if err := safetensors.WriteAtomic(path, func(w io.Writer) error { return WriteGIF(w, imgs, delay) }); err != nil {
			return fmt.Errorf("render: %w", err)
		}
		return nil
	case ".mp4":
		return WriteMP4(ctx, path, imgs, fps)
	case "":
		return WritePNGs(path, imgs)
	default:
		return fmt.Errorf("render: write %s: unknown extension %q; use .gif, .mp4 or a folder (for PNG frames)", path, ext)
	}
}
