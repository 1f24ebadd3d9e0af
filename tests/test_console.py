"""Quiet output: third-party log lines are filtered from standard error, ours are not."""
import subprocess
import sys

from edn.core.console import is_noise

SCRIPT = r"""
import logging, os, sys
from edn.core.console import quiet_third_party
with quiet_third_party(verbose=sys.argv[1] == "verbose"):
    os.write(2, b"W0000 00:00:1796398408.449582    6360 inference_feedback_manager.cc:114] Feedback\n")
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    os.write(2, b"E0000 00:00:1796398408.449582    6360 graph.cc:1] a native error\n")
    logging.getLogger("torch.utils.cpp_extension").warning("No CUDA runtime is found")
    print("our line", file=sys.stderr)
print("after the block", file=sys.stderr)
os.write(2, b"I0000 00:00:1.5    1 x.cc:2] native info after the block\n")
"""


def run(mode: str) -> str:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                          check=True).stderr


def test_native_info_and_warnings_are_filtered_errors_and_ours_pass():
    err = run("quiet")
    assert "our line" in err and "a native error" in err and "after the block" in err
    assert "Feedback" not in err and "XNNPACK" not in err and "No CUDA runtime" not in err
    assert "native info after the block" in err  # fd 2 is restored on leaving the block


def test_verbose_shows_everything():
    err = run("verbose")
    for line in ("Feedback", "XNNPACK", "No CUDA runtime", "a native error", "our line"):
        assert line in err


def test_noise_patterns():
    assert is_noise(b"W0000 00:00:1796398408.449582    6360 inference_feedback_manager.cc:114] x")
    assert is_noise(b"WARNING: All log messages before absl::InitializeLog() is called are written")
    assert not is_noise(b"E0000 00:00:1796398408.449582    6360 graph.cc:1] failed")
    assert not is_noise(b"error: no person found in video.mp4")
