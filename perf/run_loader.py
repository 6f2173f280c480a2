"""PyTorch side of `bench perf --loader`: how fast the reference pipeline reads a CREMA-D layout.

The dataset is OGM-GE's CREMA-D loader, training transform (../shared/docs/dataset-formats.md §2):
audio librosa.load(sr=22050) (soxr_hq), tiled 3x (more for clips under 1 s), first 3 s, clipped to [-1, 1], stft(n_fft=512,
hop=353), log(|X| + 1e-7); frames: the first T files of the clip's folder (sorted here, so both sides
read the same files), each RandomResizedCrop(224) + RandomHorizontalFlip, ToTensor, ImageNet
normalisation, stacked to (3, T, 224, 224). A torch DataLoader with --workers worker processes and
batch --batch reads the first --clips clips of train.csv in order (shuffle off); one batch is read
before the clock starts (worker start-up is not timed). Prints one JSON object on stdout.
"""

import argparse
import json
import os
import sys
import time

import librosa
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

CLASSES = ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"]


class Cremad(Dataset):
    def __init__(self, root, frames, clips):
        with open(os.path.join(root, "train.csv"), encoding="utf-8-sig") as f:
            rows = [line.strip().split(",") for line in f if line.strip()]
        self.rows = rows[:clips]
        self.root, self.frames = root, frames
        self.transform = transforms.Compose([
            transforms.RandomResizedCrop(224),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ])

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        clip, emo = self.rows[i]
        y, _ = librosa.load(os.path.join(self.root, "AudioWAV", clip + ".wav"), sr=22050)
        # OGM-GE tiles 3 times (every real CREMA-D clip is over 1 s); FSDD's digits in an AV-MNIST export
        # are shorter, so tile as often as it takes to fill 3 s, as our loader does.
        y = np.tile(y, max(3, -(-22050 * 3 // len(y))))[: 22050 * 3]
        y[y > 1.0], y[y < -1.0] = 1.0, -1.0
        spec = np.log(np.abs(librosa.stft(y, n_fft=512, hop_length=353)) + 1e-7)
        folder = os.path.join(self.root, "Image-01-FPS", clip)
        files = sorted(os.listdir(folder))[: self.frames]
        images = torch.zeros((self.frames, 3, 224, 224))
        for t, name in enumerate(files):
            images[t] = self.transform(Image.open(os.path.join(folder, name)).convert("RGB"))
        images = images.permute(1, 0, 2, 3)  # (3, T, 224, 224), as OGM-GE
        return torch.from_numpy(spec).unsqueeze(0), images, CLASSES.index(emo)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, help="a CREMA-D layout (bench export --layout cremad)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--frames", type=int, default=1)
    ap.add_argument("--clips", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    ds = Cremad(args.root, args.frames, args.clips)
    if len(ds) < 2 * args.batch:
        sys.exit(f"run_loader: {len(ds)} clips in {args.root}/train.csv, want at least {2 * args.batch}")
    dl = DataLoader(ds, batch_size=args.batch, num_workers=args.workers, shuffle=False)
    it = iter(dl)
    first = next(it)  # worker start-up and the first batch are not timed
    n, t0 = 0, time.perf_counter()
    for audio, visual, _ in it:
        n += audio.shape[0]
    dt = time.perf_counter() - t0
    json.dump({"clips": n, "seconds": dt, "clips_per_s": n / dt, "workers": args.workers, "batch": args.batch,
               "frames": args.frames, "audio_shape": list(first[0].shape[1:]), "visual_shape": list(first[1].shape[1:]),
               "torch_version": torch.__version__, "librosa_version": librosa.__version__}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
