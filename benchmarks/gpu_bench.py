"""GPU rows of the benchmark (CUDA only): ResNet-56 on CIFAR-10-shaped data, batch 128.

dltricks' own loop on data resident on the GPU (channels_last: dltricks' default for images
on CUDA) as fp32 eager, bf16 autocast, and bf16 + torch.compile; and a DataLoader-based
reference loop with CPU-side augmentation (crop + flip), the way such training is often
written. Both evaluate the training and test images after every epoch (dltricks' epoch_s
includes its evaluation, in the training's precision), so the ratio compares like with like."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

# ResNet-56 on 32x32 inputs: about 0.126 G multiply-adds (2 FLOPs each) per image forward;
# training (forward + backward) costs about three times the forward.
TRAIN_FLOPS_PER_IMAGE = 3 * 2 * 0.126e9
IMAGES = 12800  # one "epoch" of 100 batches of 128: enough for a stable median
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def _fixture_root() -> Path:
    """CIFAR-10-shaped files in the real format (random pixels): the speed does not care."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from fixtures import make_cifar

    root = Path(tempfile.mkdtemp())
    make_cifar(root, per_batch=IMAGES // 5, n_test=1000)
    return root


def _epoch_seconds(root: Path, *extra: str) -> float:
    from dltricks import config, train
    from dltricks.run_record import Job

    overrides = [
        "experiment=resnet_cifar10",
        "model.depth=56",
        "data.load.verify=false",
        f"data.root={root}",
        "data.val_fraction=0.0001",
        "trainer.epochs=3",
        "trainer.device=cuda",
        *extra,
    ]
    with tempfile.TemporaryDirectory() as tmp:
        train.run(config.load(overrides), Job(Path(tmp)))
        import pandas as pd

        metrics = pd.read_csv(Path(tmp) / "metrics.csv")
    return float(metrics["epoch_s"].iloc[1:].median())  # epoch 1 warms up (and compiles)


def _dataloader_epoch_seconds(root: Path) -> float:
    from torch.utils.data import DataLoader, TensorDataset

    from dltricks.data import cifar10
    from dltricks.models.activations import relu
    from dltricks.models.convnet import ConvNet
    from dltricks.models.layers import batch_norm

    a = cifar10.load(root=str(root), verify=False)
    data = TensorDataset(torch.from_numpy(a.x), torch.from_numpy(a.y))
    test = TensorDataset(torch.from_numpy(a.x_test), torch.from_numpy(a.y_test))
    model = ConvNet((3, 32, 32), 10, 56, activation=relu(), norm=batch_norm).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)

    def augment(batch):
        x = torch.stack([b[0] for b in batch])
        y = torch.stack([b[1] for b in batch])
        x = torch.nn.functional.pad(x, (4, 4, 4, 4))
        i, j = torch.randint(0, 9, (2,))
        x = x[:, :, i : i + 32, j : j + 32]
        return torch.where(torch.rand(len(x), 1, 1, 1) < 0.5, x.flip(-1), x), y

    times = []
    for _ in range(3):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for x, y in DataLoader(
            data, batch_size=128, shuffle=True, num_workers=4, collate_fn=augment, pin_memory=True
        ):
            loss = torch.nn.functional.cross_entropy(
                model(x.cuda(non_blocking=True)), y.cuda(non_blocking=True)
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        evaluate(model, data, test)  # as dltricks does after every epoch: like with like
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


@torch.inference_mode()
def evaluate(model: torch.nn.Module, *splits) -> None:
    """Loss and error over each split in eval mode, the way such loops usually do it."""
    from torch.utils.data import DataLoader

    model.eval()
    for split in splits:
        wrong = torch.zeros((), device="cuda")
        for x, y in DataLoader(split, batch_size=1024, num_workers=4, pin_memory=True):
            logits = model(x.cuda(non_blocking=True))
            wrong += (logits.argmax(1) != y.cuda(non_blocking=True)).sum()
        float(wrong)
    model.train()


def resnet56_rows() -> list[dict]:
    root = _fixture_root()
    name = torch.cuda.get_device_name(0)
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    variants = {
        "fp32 eager": ["trainer.precision=fp32"],
        "bf16 autocast": ["trainer.precision=bf16"],
        "bf16, deterministic=false (cuDNN autotunes)": [
            "trainer.precision=bf16",
            "trainer.deterministic=false",
        ],
        "bf16 + compile": ["trainer.precision=bf16", "trainer.compile=true"],
    }
    rows, base = [], None
    for label, extra in variants.items():
        torch.cuda.reset_peak_memory_stats()
        seconds = _epoch_seconds(root, *extra)
        base = base or seconds
        tflops = IMAGES * TRAIN_FLOPS_PER_IMAGE / seconds / 1e12
        rows.append(
            {
                "benchmark": f"gpu: ResNet-56 epoch, {label} (s) [{name}]",
                "value": seconds,
                "reference": base,
                "ratio": base / seconds,
                "goal": f"{tflops:.1f} TFLOP/s" + (f" of {peak:.0f} peak" if peak else ""),
                "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20,
            }
        )
    loader = _dataloader_epoch_seconds(root)
    rows.append(
        {
            "benchmark": f"gpu: ResNet-56 epoch, DataLoader + CPU augment (s) [{name}]",
            "value": loader,
            "reference": base,
            "ratio": base / loader,
            "goal": "reference",
        }
    )
    return rows
