"""A renderer's frames of a short clip gathered into arrays."""
import numpy as np

from edn.inference.transfer import Renderer


def render_all(renderer: Renderer, keypoints: np.ndarray, face: bool = True
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``Renderer.stream`` gathered: (labels, body frames, refined frames or None), uint8
    (N, h, w, 3)."""
    out = list(renderer.stream(keypoints, face))
    refined = [f.refined for f in out]
    return (np.stack([f.label for f in out]), np.stack([f.body for f in out]),
            None if refined[0] is None else np.stack(refined))
