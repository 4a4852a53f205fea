package vit

import (
	"fmt"

	"dinotracker/imgproc"
)

// PosEmbedOffset is DINOv2's interpolate_offset: the scale factors are
// (grid+0.1)/37 rather than grid/37.
const PosEmbedOffset = 0.1

// InterpolatedPosEmbed returns the positional embedding for a gh×gw token grid of an
// imgH×imgW input, as [1+gh·gw, D]: the CLS position, then the grid
// resized with PyTorch bicubic interpolation at scale factors
// ((gh+0.1)/M, (gw+0.1)/M), recompute_scale_factor=False. The learned
// embedding is returned unchanged when gh·gw = M² and imgH = imgW, as
// upstream does. Results are cached per grid.
func (m *Model) InterpolatedPosEmbed(gh, gw, imgH, imgW int) ([]float32, error) {
	return m.posEmbedFor(gh, gw, imgH, imgW)
}

func (m *Model) posEmbedFor(gh, gw, imgH, imgW int) ([]float32, error) {
	M, D := m.PosGrid, m.Dim
	if gh*gw == M*M && imgH == imgW {
		return m.PosEmbed, nil
	}
	key := [2]int{gh, gw}
	m.posMu.Lock()
	defer m.posMu.Unlock()
	if p, ok := m.posCache[key]; ok {
		return p, nil
	}
	// [M·M, D] → [D, M, M]
	grid := make([]float32, D*M*M)
	src := m.PosEmbed[D:]
	for t := 0; t < M*M; t++ {
		for c := 0; c < D; c++ {
			grid[c*M*M+t] = src[t*D+c]
		}
	}
	sh := (float64(gh) + PosEmbedOffset) / float64(M)
	sw := (float64(gw) + PosEmbedOffset) / float64(M)
	out, oh, ow := imgproc.ResizeBicubicScale(grid, D, M, M, sh, sw)
	if oh != gh || ow != gw {
		return nil, fmt.Errorf("vit: positional embedding resized to %d×%d, not the %d×%d token grid", oh, ow, gh, gw)
	}
	n := gh * gw
	p := make([]float32, (1+n)*D)
	copy(p, m.PosEmbed[:D])
	for c := 0; c < D; c++ {
		for t := 0; t < n; t++ {
			p[(1+t)*D+c] = out[c*n+t]
		}
	}
	if m.posCache == nil {
		m.posCache = map[[2]int][]float32{}
	}
	m.posCache[key] = p
	return p, nil
}
