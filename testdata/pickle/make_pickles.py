#!/usr/bin/env python3
"""Writes the tiny TAP-Vid pickles the Go tests read (no Python is needed to
run the tests). Run from this folder with Python 3 and numpy:

    python3 make_pickles.py

Every value follows a closed formula that the Go tests recompute.

tapvid_davis_p{2,4,5}.pkl: tapnet's tapvid_davis.pkl layout, a dict
    name -> {'video': uint8 [T,H,W,3], 'points': float32 [N,T,2] normalised
    (x, y), 'occluded': bool [N,T]}, pickled with protocol 2, 4 and 5.
dino_strided_p{2,4}.pkl: DINO-Tracker's tapvid_davis_data_strided.pkl
    layout, {'videos': [{video_idx, h, w, query_points: {t: [[x, y], ...]},
    target_points: {t: [N_t,T,2]}, occluded: {t: [N_t,T]}}, ...]} in
    pixels; the second video carries BADJA segmentations [T,H,W].
numpy_cases_p{2,5}.pkl: numpy corner cases for the pth package.
oob_p5.pkl: an array pickled with protocol 5 out-of-band buffers.
"""
import collections
import pickle

import numpy as np


def tapnet_video(T, H, W, N, seed):
    t = np.arange(T)[:, None, None, None]
    y = np.arange(H)[None, :, None, None]
    x = np.arange(W)[None, None, :, None]
    c = np.arange(3)[None, None, None, :]
    video = ((t * 40 + y * 10 + x * 3 + c + seed) % 256).astype(np.uint8)
    n = np.arange(N)[:, None]
    tt = np.arange(T)[None, :]
    px = (n + 1) / 8 + tt / 64
    py = (n + 2) / 10 + tt / 100
    points = np.stack([px, py], axis=-1).astype(np.float32)
    occ = np.zeros((N, T), dtype=bool)
    # track 0 always visible; 1 occluded at frame 0; 2 occluded from frame 3;
    # 3 occluded at frames 0 and 5 (never a query on a stride-5 frame).
    occ[1, 0] = True
    occ[2, 3:] = True
    occ[3, 0] = True
    occ[3, 5] = True
    return {'video': video, 'points': points, 'occluded': occ}


def tapnet():
    return {'bear': tapnet_video(7, 8, 10, 4, 0), 'dog': tapnet_video(6, 6, 9, 4, 7)}


def dino_tracks(qframes, counts, T, w, h):
    tp, occ, qp = {}, {}, {}
    for q, n in zip(qframes, counts):
        i = np.arange(n)[:, None]
        t = np.arange(T)[None, :]
        x = 3.0 * (i + 1) + 2.0 * t + 0.25 * q
        y = 2.0 * (i + 1) + 1.0 * t + 0.5
        tr = np.stack([x, y], axis=-1).astype(np.float32)
        o = ((i + t + q) % 4 == 3)
        o[:, q] = False
        tp[q] = tr
        occ[q] = o
        qp[q] = [[float(tr[k, q, 0]), float(tr[k, q, 1])] for k in range(n)]
    return qp, tp, occ


def dino():
    qp, tp, occ = dino_tracks([0, 5], [2, 1], 6, 64, 48)
    v0 = {'video_idx': 7, 'h': 48, 'w': 64, 'query_points': qp, 'target_points': tp, 'occluded': occ}
    qp, tp, occ = dino_tracks([0], [2], 3, 16, 8)
    # numpy keys and array-valued query points, as a converted file may hold
    v1 = {'video_idx': np.int64(2), 'h': 8, 'w': 16,
          'query_points': {np.int64(k): np.asarray(v, dtype=np.float64) for k, v in qp.items()},
          'target_points': {np.int64(k): v for k, v in tp.items()},
          'occluded': {np.int64(k): v for k, v in occ.items()},
          'segmentations': (np.arange(3 * 8 * 16).reshape(3, 8, 16) % 3 == 0).astype(np.uint8) * 255}
    return {'videos': [v0, v1]}


def numpy_cases():
    return collections.OrderedDict([
        ('fortran', np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))),
        ('big', np.arange(3, dtype='>i4') - 1),
        ('half', np.array([1.5, -2.0], dtype=np.float16)),
        ('u16', np.array([65535, 1], dtype=np.uint16)),
        ('f32', np.float32(1.5)),
        ('i64', np.int64(-7)),
        ('b', np.bool_(True)),
        ('obj', np.array([1, 2.5, None], dtype=object)),
        ('empty', np.zeros((0, 2), dtype=np.float32)),
        ('scalar0d', np.array(3.0)),
        ('bytes', b'\x00\xff'),
        ('nobytes', b''),
        ('tuple', (1, 'two', 3.0, None, True)),
    ])


def main():
    for p in (2, 4, 5):
        with open(f'tapvid_davis_p{p}.pkl', 'wb') as f:
            pickle.dump(tapnet(), f, protocol=p)
    for p in (2, 4):
        with open(f'dino_strided_p{p}.pkl', 'wb') as f:
            pickle.dump(dino(), f, protocol=p)
    for p in (2, 5):
        with open(f'numpy_cases_p{p}.pkl', 'wb') as f:
            pickle.dump(numpy_cases(), f, protocol=p)
    bufs = []
    data = pickle.dumps({'a': np.arange(4, dtype=np.float32)}, protocol=5, buffer_callback=bufs.append)
    with open('oob_p5.pkl', 'wb') as f:
        f.write(data)


if __name__ == '__main__':
    main()
