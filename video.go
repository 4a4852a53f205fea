package dinotracker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"dinotracker/imgproc"
)

// MinFrames is the fewest frames a Video may have: tracking needs at least
// two.
const MinFrames = 2

// Sentinel errors of the video loaders; test them with errors.Is.
var (
	// ErrNoFrames: the folder (or video stream, or image list) holds no frames.
	ErrNoFrames = errors.New("no video frames")
	// ErrTooFewFrames: fewer than MinFrames frames.
	ErrTooFewFrames = errors.New("too few video frames (tracking needs at least 2)")
	// ErrMixedSizes: the frames do not all have the same size.
	ErrMixedSizes = errors.New("video frames have different sizes")
	// ErrFFmpegMissing: a movie file was given but ffmpeg/ffprobe are not on PATH.
	ErrFFmpegMissing = errors.New("ffmpeg not found")
)

// Video is a sequence of 8-bit RGB frames of equal size. Frames stay 8-bit to
// keep memory low (854×480 is 1.2 MB a frame); Float32 converts on demand.
type Video struct {
	// Width and Height are the size of every frame in Frames.
	Width, Height int
	// Frames are the 8-bit frames, in time order.
	Frames []*imgproc.RGB8
	// Names holds the source file of each frame (the path it was read from),
	// or "" for frames decoded from a movie or given in memory.
	Names []string
	// OrigWidth and OrigHeight are the size the frames were loaded at; Resize
	// keeps them, so coordinates can be mapped back to the source.
	OrigWidth, OrigHeight int
}

// Len returns the number of frames.
func (v *Video) Len() int { return len(v.Frames) }

// Float32 returns frame t as planar float32 RGB [3, Height, Width] with values
// float32(v)/255 in [0, 1], as DINO-Tracker's load_video (PIL → /255) gives.
// A new slice is returned on every call.
func (v *Video) Float32(t int) []float32 {
	return v.Frames[t].Float32CHW(nil)
}

// FrameImage returns frame t as an image.Image (the frame itself, not a copy).
func (v *Video) FrameImage(t int) image.Image { return v.Frames[t] }

// Resize returns a new Video with every frame resized to w×h with PIL's
// LANCZOS filter (imgproc.ResizeLanczos, bit-exact with Pillow 9.4), which is
// how DINO-Tracker brings frames to its working resolution (854×476).
// OrigWidth and OrigHeight are kept. Frames are resized in parallel.
func (v *Video) Resize(w, h int) (*Video, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("video resize to %dx%d: width and height must be positive", w, h)
	}
	out := &Video{
		Width: w, Height: h,
		Frames:    make([]*imgproc.RGB8, len(v.Frames)),
		Names:     append([]string(nil), v.Names...),
		OrigWidth: v.OrigWidth, OrigHeight: v.OrigHeight,
	}
	err := forEachParallel(context.Background(), len(v.Frames), func(t int) error {
		r, err := imgproc.ResizeLanczos(v.Frames[t], w, h)
		if err != nil {
			return fmt.Errorf("video resize frame %d: %w", t, err)
		}
		out.Frames[t] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// NewVideo builds a Video from in-memory images, converted to 8-bit RGB (see
// imgproc.FromImage). All images must have the same size and there must be at
// least MinFrames of them.
func NewVideo(images []image.Image) (*Video, error) {
	frames := make([]*imgproc.RGB8, len(images))
	for i, img := range images {
		if img == nil {
			return nil, fmt.Errorf("video image %d is nil", i)
		}
		frames[i] = imgproc.FromImage(img)
	}
	return newVideo(frames, make([]string, len(frames)), "the image list")
}

// newVideo checks the frame count and sizes and assembles a Video.
func newVideo(frames []*imgproc.RGB8, names []string, source string) (*Video, error) {
	if len(frames) == 0 {
		return nil, fmt.Errorf("%w in %s: give a folder with *.jpg/*.jpeg/*.png frames or a video file", ErrNoFrames, source)
	}
	if len(frames) < MinFrames {
		return nil, fmt.Errorf("%w: %s has %d frame, tracking needs at least %d", ErrTooFewFrames, source, len(frames), MinFrames)
	}
	w, h := frames[0].W, frames[0].H
	for i, f := range frames[1:] {
		if f.W != w || f.H != h {
			return nil, fmt.Errorf("%w: %s is %dx%d but %s is %dx%d; resize all frames to one size first",
				ErrMixedSizes, frameName(names, i+1), f.W, f.H, frameName(names, 0), w, h)
		}
	}
	return &Video{Width: w, Height: h, Frames: frames, Names: names, OrigWidth: w, OrigHeight: h}, nil
}

func frameName(names []string, i int) string {
	if i < len(names) && names[i] != "" {
		return names[i]
	}
	return fmt.Sprintf("frame %d", i)
}

// IsFrameFile reports whether a file name has a frame extension the folder
// loader picks up: .jpg, .jpeg or .png in any letter case.
func IsFrameFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

// IsMovieFile reports whether a file name has an extension LoadVideo decodes
// through ffmpeg: .mp4, .mov, .avi, .mkv or .webm in any letter case.
func IsMovieFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".mp4", ".mov", ".avi", ".mkv", ".webm":
		return true
	}
	return false
}

// LoadVideo loads a video from path:
//
//   - a directory: every *.jpg, *.jpeg and *.png file in it (letter case
//     ignored, subdirectories not searched), in sorted name order, as
//     DINO-Tracker does;
//   - a .mp4, .mov, .avi, .mkv or .webm file: decoded with the ffmpeg command
//     line tool to 8-bit RGB (requires ffmpeg and ffprobe on PATH).
//
// Frames keep their original size. The result has at least MinFrames frames
// of one size, otherwise the error wraps ErrNoFrames, ErrTooFewFrames or
// ErrMixedSizes; a missing ffmpeg gives ErrFFmpegMissing. Cancelling ctx stops
// the loading between frames.
func LoadVideo(ctx context.Context, path string) (*Video, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load video: %w", err)
	}
	if st.IsDir() {
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("load video: %w", err)
		}
		var files []string
		for _, e := range ents {
			if !e.IsDir() && IsFrameFile(e.Name()) {
				files = append(files, e.Name())
			}
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("load video: %w in %s: the folder must contain the frames as *.jpg, *.jpeg or *.png files", ErrNoFrames, path)
		}
		sort.Strings(files)
		for i, f := range files {
			files[i] = filepath.Join(path, f)
		}
		return loadFrames(ctx, files, "folder "+path)
	}
	switch {
	case IsMovieFile(path):
		return loadMovie(ctx, path)
	case IsFrameFile(path):
		return nil, fmt.Errorf("load video: %w: %s is a single image; pass the folder that holds all frames", ErrTooFewFrames, path)
	}
	return nil, fmt.Errorf("load video: %s is neither a folder of frames nor a .mp4/.mov/.avi/.mkv/.webm file", path)
}

// LoadVideoFrames loads the given image files (JPEG or PNG, recognised by
// content), in the order given. See LoadVideo for the checks.
func LoadVideoFrames(ctx context.Context, files []string) (*Video, error) {
	return loadFrames(ctx, files, "the file list")
}

func loadFrames(ctx context.Context, files []string, source string) (*Video, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("load video: %w in %s", ErrNoFrames, source)
	}
	if len(files) < MinFrames {
		return nil, fmt.Errorf("load video: %w: %s has only %s; tracking needs at least %d frames", ErrTooFewFrames, source, files[0], MinFrames)
	}
	frames := make([]*imgproc.RGB8, len(files))
	err := forEachParallel(ctx, len(files), func(i int) error {
		f, err := LoadFrame(files[i])
		if err != nil {
			return err
		}
		frames[i] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load video: %w", err)
	}
	v, err := newVideo(frames, append([]string(nil), files...), source)
	if err != nil {
		return nil, fmt.Errorf("load video: %w", err)
	}
	return v, nil
}

// LoadFrame decodes one JPEG or PNG file to 8-bit RGB. The format is taken
// from the file's content, not its name. JPEGs are decoded with
// imgproc.DecodeJPEG (libjpeg-style chroma upsampling and colour conversion,
// like PIL); paletted, grey, alpha and 16-bit PNGs are converted to RGB8.
// Errors name the file.
func LoadFrame(path string) (*imgproc.RGB8, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read frame: %w", err)
	}
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8}):
		m, err := imgproc.DecodeJPEG(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("frame %s is not a readable JPEG (corrupt or truncated? re-export it): %w", path, err)
		}
		return m, nil
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("frame %s is not a readable PNG (corrupt or truncated? re-export it): %w", path, err)
		}
		return imgproc.FromImage(img), nil
	case bytes.HasPrefix(data, []byte("P6")):
		m, err := imgproc.DecodePPM(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("frame %s is not a readable PPM: %w", path, err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("frame %s is neither a JPEG, a PNG nor a binary PPM file (corrupt, or wrongly named?)", path)
}

// forEachParallel runs fn(0..n-1) on at most GOMAXPROCS goroutines, checking
// ctx before every item. It returns the error of the lowest failing index
// (so errors are deterministic), or ctx's error.
func forEachParallel(ctx context.Context, n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	errs := make([]error, n)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	failed := false
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if failed || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := ctx.Err(); err != nil {
					errs[i] = err
				} else {
					errs[i] = fn(i)
				}
				if errs[i] != nil {
					mu.Lock()
					failed = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ffmpegHint is appended to every ffmpeg-missing error.
const ffmpegHint = "install it with `apt-get install ffmpeg` (Debian package ffmpeg), or extract the frames to a folder of JPEG/PNG files"

// probeMovie asks ffprobe for the displayed frame size of the first video
// stream (width, height, swapped when the stream is rotated by ±90°, since
// ffmpeg auto-rotates on decoding).
func probeMovie(ctx context.Context, ffprobe, path string) (w, h int, err error) {
	cmd := exec.CommandContext(ctx, ffprobe, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height:stream_tags=rotate:stream_side_data=rotation",
		"-of", "default=noprint_wrappers=1", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("load video: ffprobe cannot read %s (corrupt or unsupported movie?): %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	rot := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch strings.ToLower(k) {
		case "width":
			if w == 0 {
				w = int(n)
			}
		case "height":
			if h == 0 {
				h = int(n)
			}
		case "rotation", "tag:rotate":
			rot = int(n)
		}
	}
	if w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("load video: %w: ffprobe found no video stream in %s", ErrNoFrames, path)
	}
	if r := ((rot % 360) + 360) % 360; r == 90 || r == 270 {
		w, h = h, w
	}
	return w, h, nil
}

// loadMovie decodes a movie file through ffmpeg's rawvideo rgb24 output.
func loadMovie(ctx context.Context, path string) (*Video, error) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil, fmt.Errorf("load video %s: %w on PATH (needed to decode movie files): %s", path, ErrFFmpegMissing, ffmpegHint)
	}
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		return nil, fmt.Errorf("load video %s: %w: ffprobe is not on PATH (it comes with ffmpeg): %s", path, ErrFFmpegMissing, ffmpegHint)
	}
	w, h, err := probeMovie(ctx, ffprobe, path)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(cctx, ffmpeg, "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("load video %s: %w", path, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("load video %s: starting ffmpeg: %w", path, err)
	}
	r := bufio.NewReaderSize(stdout, 1<<20)
	var frames []*imgproc.RGB8
	var readErr error
	for {
		if err := ctx.Err(); err != nil {
			readErr = err
			break
		}
		f := imgproc.NewRGB8(w, h)
		n, err := io.ReadFull(r, f.Pix)
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("ffmpeg output ends inside frame %d (%d of %d bytes; frame size %dx%d): %w", len(frames), n, len(f.Pix), w, h, err)
			break
		}
		frames = append(frames, f)
	}
	if readErr != nil {
		cancel()
	}
	waitErr := cmd.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load video %s: %w", path, err)
	}
	if readErr != nil {
		return nil, fmt.Errorf("load video %s: %w", path, readErr)
	}
	if waitErr != nil {
		return nil, fmt.Errorf("load video %s: ffmpeg failed (corrupt or unsupported file?): %w: %s", path, waitErr, strings.TrimSpace(stderr.String()))
	}
	v, err := newVideo(frames, make([]string, len(frames)), path)
	if err != nil {
		return nil, fmt.Errorf("load video: %w", err)
	}
	return v, nil
}
