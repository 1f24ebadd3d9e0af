"""python output/sheet.py TRANSFER_DIR -o result.jpg [--rows 3] [--quality 85]"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from edn.core.cli import add_common_flags, run_command
from edn.core.errors import InputError, UserError
from edn.core.io import atomic_write
from edn.preparation.contact_sheet import transfer_folder_sheet


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="A small picture of a transfer: rows of source | skeleton | result for "
                    "frames spread over the folder main/test.py wrote (the README's image is "
                    "made this way from the demo's transfer).")
    p.add_argument("transfer", type=Path, help="the transfer folder (main/test.py -o OUT)")
    p.add_argument("-o", "--out", required=True, type=Path, help="output image (.jpg or .png)")
    p.add_argument("--rows", type=int, default=3, help="frames shown, one a row (default 3)")
    p.add_argument("--quality", type=int, default=85, help="JPEG quality 1-100 (default 85)")
    add_common_flags(p)
    args = p.parse_args(argv)
    return run_command(lambda: run(args), args.verbose, "interrupted: nothing was written")


def run(args: argparse.Namespace) -> int:
    if args.rows < 1:
        raise UserError("--rows must be at least 1")
    if not 1 <= args.quality <= 100:
        raise UserError("--quality must be in 1-100")
    if args.out.suffix.lower() not in (".jpg", ".jpeg", ".png"):
        raise UserError(f"{args.out}: the picture is written as .jpg or .png")
    if not args.transfer.is_dir():
        raise InputError(f"no such folder: {args.transfer}")
    sheet = cv2.cvtColor(transfer_folder_sheet(args.transfer, args.rows), cv2.COLOR_RGB2BGR)

    def write(tmp: str) -> None:
        if not cv2.imwrite(tmp, sheet, [cv2.IMWRITE_JPEG_QUALITY, args.quality]):
            raise OSError(f"cannot write image {args.out}")

    atomic_write(args.out, write)
    h, w = sheet.shape[:2]
    print(f"{w}x{h} sheet, {args.out.stat().st_size / 1000:.0f} kB -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
