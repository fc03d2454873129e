"""The worked example of "Your network, your data" (README), offline on Fashion-MNIST.

A LeNet trained on Fashion-MNIST's A half plays "your network"; the other half, written out as
PNGs, plays "your images". Two steps sit between the transfer-lab commands:

    python examples/own_images.py weights RUN_DIR model.pt
        the source that RUN_DIR's job trained (its source cache entry), saved as a plain
        state_dict of the backbone; its first convolution is spread over three input channels
        (each a third of the grey one: the same output on grey images), since an image folder
        is read as RGB
    python examples/own_images.py export FASHION_ROOT RUN_DIR OUT_DIR [--train N] [--test M]
        B's classes of RUN_DIR's split (the half the source never saw) as
        OUT_DIR/train/<class>/*.png and OUT_DIR/test/<class>/*.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FIRST_CONV = "stages.conv1.0.weight"  # LeNet's first convolution (backbone=lenet)


def run_record(run_dir: Path) -> dict:
    """The results.json of a finished job (only_source=true is enough)."""
    record = json.loads((run_dir / "results.json").read_text())
    if record.get("status") != "ok" or not record["source"].get("cache_key"):
        raise SystemExit(f"{run_dir}/results.json holds no finished source; run step 1 again.")
    return record


def save_weights(run_dir: Path, out: Path) -> None:
    """The job's source backbone as a plain state_dict, taking RGB images."""
    import torch

    record = run_record(run_dir)
    key = record["source"]["cache_key"]
    cache = Path(record["config"]["paths"]["cache_dir"])
    state = torch.load(cache / key[:2] / f"{key}.pt", weights_only=True)["state_dict"]
    grey = state[FIRST_CONV]
    if grey.shape[1] == 1:
        state[FIRST_CONV] = grey.repeat(1, 3, 1, 1) / 3
    torch.save(state, out)
    print(
        f"{out}: {len(state)} tensors of the source {key[:12]} (A = classes {record['source_classes']})"
    )


def export_pngs(root: Path, run_dir: Path, out: Path, train: int, test: int) -> None:
    """The first `train` training and `test` test images of each of B's classes, as PNGs."""
    from PIL import Image

    from transfer_lab.data.datasets.fashion_mnist import load_fashion_mnist

    images = load_fashion_mnist(str(root))
    classes = run_record(run_dir)["target_classes"]
    parts = {
        "train": (images.train_images, images.train_labels, train),
        "test": (images.test_images, images.test_labels, test),
    }
    for part, (pixels, labels, count) in parts.items():
        for label in classes:
            name = images.class_names[label].replace("/", "-").replace(" ", "_")
            folder = out / part / name
            folder.mkdir(parents=True, exist_ok=True)
            chosen = (labels == label).nonzero().flatten()[:count]
            for n, index in enumerate(chosen.tolist()):
                Image.fromarray(pixels[index, 0].numpy(), mode="L").save(folder / f"{n:04d}.png")
    print(f"{out}: {len(classes)} classes × {train} training and {test} test PNGs")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)
    weights = steps.add_parser("weights", help="the job's source as a plain state_dict")
    weights.add_argument("run_dir", type=Path)
    weights.add_argument("out", type=Path)
    export = steps.add_parser("export", help="B's classes as a folder of PNGs")
    export.add_argument("root", type=Path)
    export.add_argument("run_dir", type=Path)
    export.add_argument("out", type=Path)
    export.add_argument("--train", type=int, default=60)
    export.add_argument("--test", type=int, default=20)
    args = parser.parse_args(argv)
    if args.step == "weights":
        save_weights(args.run_dir, args.out)
    else:
        export_pngs(args.root, args.run_dir, args.out, args.train, args.test)


if __name__ == "__main__":
    main()
