package nn

import (
	"fmt"
	"math"

	"dinotracker/internal/parallel"
)

// FlowHuberDelta is the δ of DINO-Tracker's tracking losses (1/32 in
// image-normalised units).
const FlowHuberDelta = 1.0 / 32

// huber is PyTorch's huber_loss for one residual e: ½e² if |e| < δ, else
// δ(|e| - ½δ) (no division by δ, unlike smooth_l1).
func huber(e, delta float64) float64 {
	if a := math.Abs(e); a < delta {
		return 0.5 * e * e
	} else {
		return delta * (a - 0.5*delta)
	}
}

// HuberForward returns mean_i w_i·huber(pred_i - target_i) over n values
// (PyTorch HuberLoss(delta, reduction="mean") when weight is nil; with
// weights, mean(w·HuberLoss(reduction="none")) as DINO-Tracker's cycle
// loss). weight [n] may be nil. Accumulated in float64.
func HuberForward(pred, target, weight []float32, n int, delta float32) float32 {
	checkLen("HuberForward", "pred", pred, n)
	checkLen("HuberForward", "target", target, n)
	checkOpt("HuberForward", "weight", weight, n)
	var s float64
	for i := 0; i < n; i++ {
		l := huber(float64(pred[i])-float64(target[i]), float64(delta))
		if weight != nil {
			l *= float64(weight[i])
		}
		s += l
	}
	return float32(s / float64(n))
}

// HuberBackward accumulates the gradient of HuberForward scaled by dloss:
// dpred += dloss·w·clamp(pred-target, -δ, δ)/n and dtarget -= the same.
// dpred or dtarget may be nil.
func HuberBackward(dpred, dtarget, pred, target, weight []float32, n int, delta, dloss float32) {
	checkOpt("HuberBackward", "dpred", dpred, n)
	checkOpt("HuberBackward", "dtarget", dtarget, n)
	k := float64(dloss) / float64(n)
	d := float64(delta)
	for i := 0; i < n; i++ {
		e := float64(pred[i]) - float64(target[i])
		g := max(-d, min(d, e)) * k
		if weight != nil {
			g *= float64(weight[i])
		}
		if dpred != nil {
			dpred[i] += float32(g)
		}
		if dtarget != nil {
			dtarget[i] -= float32(g)
		}
	}
}

// InfoNCEForward is the per-row InfoNCE loss of DINO-Tracker's
// get_bb_pairs_contrastive_loss with temperature temp:
//
//	loss[r] = -log( exp(pos[r]/τ) / Σ_j exp(logits[r, j]/τ) )
//	        = logΣexp(logits[r, :]/τ) - pos[r]/τ
//
// for logits [rows, k] (cosines against every token of the other frame) and
// pos [rows] (the cosine of the positive pair, which upstream computes
// separately; it need not be one of the logits). lse [rows] receives
// logΣexp(logits/τ) for the backward pass. Computed stably in float64.
// Weights and the final sum/divisor are left to the caller (DotForward).
func InfoNCEForward(loss, lse, pos, logits []float32, rows, k int, temp float32) {
	checkLen("InfoNCEForward", "logits", logits, rows*k)
	checkLen("InfoNCEForward", "pos", pos, rows)
	checkLen("InfoNCEForward", "loss", loss, rows)
	checkLen("InfoNCEForward", "lse", lse, rows)
	inv := 1 / temp
	parallel.For(rows, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			l := logSumExp(logits[r*k:(r+1)*k], inv)
			lse[r] = float32(l)
			loss[r] = float32(l - float64(pos[r])/float64(temp))
		}
	})
}

// InfoNCEBackward accumulates, for dloss [rows]:
// dlogits[r, j] += dloss[r]·softmax(logits[r, :]/τ)_j/τ and
// dpos[r] -= dloss[r]/τ. dpos or dlogits may be nil.
func InfoNCEBackward(dpos, dlogits, dloss, lse, logits []float32, rows, k int, temp float32) {
	checkOpt("InfoNCEBackward", "dlogits", dlogits, rows*k)
	checkOpt("InfoNCEBackward", "dpos", dpos, rows)
	inv := 1 / float64(temp)
	if dpos != nil {
		for r := 0; r < rows; r++ {
			dpos[r] -= float32(float64(dloss[r]) * inv)
		}
	}
	if dlogits == nil {
		return
	}
	parallel.For(rows, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			g := float64(dloss[r]) * inv
			l := float64(lse[r])
			for j, v := range logits[r*k : (r+1)*k] {
				dlogits[r*k+j] += float32(g * math.Exp(float64(v)*inv-l))
			}
		}
	})
}

// CrossEntropyForward is F.cross_entropy(logits/τ, target, reduction="none"):
// loss[r] = logΣexp(logits[r, :]/τ) - logits[r, target[r]]/τ, for logits
// [rows, k]. lse [rows] receives logΣexp for the backward pass.
func CrossEntropyForward(loss, lse, logits []float32, target []int, rows, k int, temp float32) {
	checkLen("CrossEntropyForward", "logits", logits, rows*k)
	pos := make([]float32, rows)
	for r := 0; r < rows; r++ {
		if target[r] < 0 || target[r] >= k {
			panic(fmt.Sprintf("nn: CrossEntropyForward: target %d out of [0,%d)", target[r], k))
		}
		pos[r] = logits[r*k+target[r]]
	}
	InfoNCEForward(loss, lse, pos, logits, rows, k, temp)
}

// CrossEntropyBackward accumulates dlogits[r, j] += dloss[r]·(softmax_j -
// [j = target[r]])/τ.
func CrossEntropyBackward(dlogits, dloss, lse, logits []float32, target []int, rows, k int, temp float32) {
	InfoNCEBackward(nil, dlogits, dloss, lse, logits, rows, k, temp)
	for r := 0; r < rows; r++ {
		dlogits[r*k+target[r]] -= dloss[r] / temp
	}
}
