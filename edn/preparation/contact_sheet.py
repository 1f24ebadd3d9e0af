"""Contact sheets: a few frames tiled so a person can judge a result at a glance."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edn.core.errors import InputError
from edn.core.paths import FRAMES, frame_name
from edn.core.skeleton import draw_skeleton
from edn.core.video import read_image_rgb
from edn.preparation import normalize

TILE = 256
SHEET_COLUMNS = 4
SHEET_ROWS = 6  # frames of a reenactment report sheet


def spread(n: int, count: int) -> np.ndarray:
    """``count`` indices (all ``n`` when fewer) spread evenly over ``n`` frames, the first and
    the last included: the frames a sheet shows."""
    return np.linspace(0, n - 1, min(count, n)).round().astype(int)


def normalization_sheet(target_frames: Path, target_poses: np.ndarray, normalized: np.ndarray,
                        transforms: normalize.FrameTransforms, target: normalize.AnkleStats,
                        tiles: int = 12, conf_threshold: float = normalize.CONF_THRESHOLD
                        ) -> np.ndarray:
    """Evenly spaced normalized source frames, each drawn over the target frame whose lower
    ankle is nearest in y (same depth), between lines at the target's far and close
    positions. Returns an RGB image."""
    f_src, _, seen_src = normalize.ankle_coordinates(normalized, conf_threshold)
    f_tgt, _, seen_tgt = normalize.ankle_coordinates(target_poses, conf_threshold)
    candidates = np.flatnonzero(seen_tgt)
    picks = np.flatnonzero(seen_src)
    picks = picks[spread(len(picks), tiles)]
    images = []
    for i in picks:
        j = int(candidates[np.argmin(np.abs(f_tgt[candidates] - f_src[i]))])
        frame = read_image_rgb(target_frames / frame_name(j))
        h, w = frame.shape[:2]
        for y in (target.far, target.close):
            cv2.line(frame, (0, round(y)), (w - 1, round(y)), (255, 255, 255), 1)
        frame = draw_skeleton(frame, normalized[i], conf_threshold, alpha=0.8)
        tile = cv2.resize(frame, (TILE, round(TILE * h / w)), interpolation=cv2.INTER_AREA)
        text = f"src {i} on tgt {j}  c={transforms.scale[i]:.3f} b={transforms.shift[i]:+.1f}"
        cv2.rectangle(tile, (0, 0), (TILE - 1, 19), (0, 0, 0), -1)  # keep the caption legible
        cv2.putText(tile, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1,
                    cv2.LINE_AA)
        images.append(tile)
    blank = np.zeros_like(images[0])
    images += [blank] * (-len(images) % SHEET_COLUMNS)
    rows = [np.hstack(images[k:k + SHEET_COLUMNS]) for k in range(0, len(images), SHEET_COLUMNS)]
    return np.vstack(rows)


def reenactment_sheet(labels: np.ndarray, generated: np.ndarray, real: np.ndarray,
                      rows: int = SHEET_ROWS) -> np.ndarray:
    """Rows of input skeleton | generated | real for frames spread over the held-out span."""
    picks = spread(len(real), rows)
    return np.vstack([np.hstack([labels[i], generated[i], real[i]]) for i in picks])


def transfer_sheet(source: np.ndarray, labels: np.ndarray, frames: np.ndarray,
                   tiles: int = 8, per_row: int = 2) -> np.ndarray:
    """Source | skeleton | result for ``tiles`` frames spread over the video, ``per_row`` of
    them side by side; all (N, h, w, 3) RGB of one size. Returns an RGB image."""
    picks = spread(len(frames), tiles)
    triples = [np.hstack([source[i], labels[i], frames[i]]) for i in picks]
    triples += [np.zeros_like(triples[0])] * (-len(triples) % per_row)
    return np.vstack([np.hstack(triples[k:k + per_row]) for k in range(0, len(triples), per_row)])


def transfer_folder_sheet(folder: Path, rows: int = 3) -> np.ndarray:
    """Source | skeleton | result, one frame a row for ``rows`` frames spread over a transfer
    folder (docs/formats.md: its source/, labels/ and frames/), read frame by frame. RGB."""
    names = sorted(p.name for p in (folder / FRAMES).glob("*.png"))
    if not names:
        raise InputError(f"{folder} is not a transfer folder: no {FRAMES}/*.png in it")
    missing = [d for d in ("source", "labels") if not (folder / d).is_dir()]
    if missing:
        raise InputError(f"{folder} is not a transfer folder: no {' or '.join(missing)}/ in it")
    picks = spread(len(names), rows)
    images = [[read_image_rgb(folder / d / names[i]) for i in picks]
              for d in ("source", "labels", FRAMES)]
    if len({image.shape for column in images for image in column}) > 1:
        raise InputError(f"{folder}: its source, labels and frames images differ in size; a "
                         "transfer folder's are all the model's size")
    source, labels, frames = (np.stack(column) for column in images)
    return transfer_sheet(source, labels, frames, tiles=len(picks), per_row=1)


def write_report(folder: Path, labels: np.ndarray, generated: np.ndarray, real: np.ndarray,
                 metrics: dict) -> None:
    """folder/report.png (the sheet) and folder/ssim_per_frame.png (each candidate's SSIM)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sheet = reenactment_sheet(labels, generated, real)
    cv2.imwrite(str(folder / "report.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    for name, m in metrics.items():
        ax.plot(m["ssim_per_frame"], label=f"{name} (mean {m['ssim']:.3f})")
    ax.set_xlabel("held-out frame")
    ax.set_ylabel("SSIM")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "ssim_per_frame.png")
    plt.close(fig)
