"""Images per second and the epoch time of each ``.paper()`` preset at MIRFLICKR-25K size, next to the
hardware's arithmetic limit for the same network.

For DCMH, CDHCR and TDH (the alternating methods with 224-px image networks: CNN-F and ResNet-34) one
image-network training iteration is timed on random 224x224 images with the preset's batch size; the text
network likewise on 1,386-d bags of words. An epoch of the alternating loop is ``ceil(n / b)`` iterations of
each network; at MIRFLICKR-25K size n = 10,000 training pairs, so

    epoch seconds = ceil(n / b) * (image iteration + text iteration) seconds

(the B-step, the history row and validation come on top; ``--full`` times whole epochs instead of
extrapolating). The FLOPs of one image's forward and backward pass are counted with
``torch.utils.flop_counter``; the arithmetic limit is the device's measured matrix-multiply rate (float32 here
on the CPU, bfloat16 on a GPU) divided by those FLOPs.

    .venv/bin/python benchmarks/bench_paper_epoch.py --device cpu --iters 3
    python benchmarks/bench_paper_epoch.py --device cuda --amp --iters 20     # on a GPU machine
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int = 2048, reps: int = 5) -> float:
    """Measured dense matrix-multiply FLOP/s on ``device`` in ``dtype``."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * size ** 3 * reps / (time.perf_counter() - t0)


def time_iteration(model, modality: str, x, iters: int, amp: bool) -> float:
    """Seconds per training iteration (forward, a stand-in loss, backward, optimiser step) of one network."""
    net = model.modules[modality]
    opt = model.optimizers[modality]
    dev = x.device
    net.train()

    def step():
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
            out = net(x)
        loss = (model.output_activation(out.float()) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up (allocations, cuDNN autotuning)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / iters


def main(argv=None):
    from hashnotes import bench, methods
    from hashnotes.data.base import PairSet
    from hashnotes.train import resolve_device

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--methods", nargs="+", default=["dcmh", "cdhcr", "tdh"])
    ap.add_argument("--bits", type=int, default=64)
    ap.add_argument("--n", type=int, default=10_000, help="training pairs of the epoch (MIRFLICKR-25K: 10,000)")
    ap.add_argument("--iters", type=int, default=3, help="timed iterations per network")
    ap.add_argument("--amp", action="store_true", help="bfloat16 autocast (the presets' amp option)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        from hashnotes import threads

        threads.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    peak_dtype = torch.bfloat16 if (dev.type == "cuda" and args.amp) else torch.float32
    peak = matmul_rate(dev, peak_dtype)
    print(f"device {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'CPU'}), "
          f"{torch.get_num_threads()} threads; measured matmul {peak / 1e12:.2f} TFLOP/s in {peak_dtype}")
    print("| method | image net | batch | image it/s | images/s | text it (s) | GFLOP/image (fwd+bwd) | "
          "arithmetic limit images/s | epoch at n (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for name in args.methods:
        model = methods.get(name).paper(bits=args.bits, device=str(dev), amp=args.amp)
        b = model.config.batch_size
        spec = PairSet(images=rng.integers(0, 256, (b, 3, 224, 224), dtype=np.uint8),
                       texts=(rng.random((b, 1386)) < 0.004).astype(np.float32),
                       labels=np.eye(b, 24, dtype=np.uint8), ids=np.arange(b, dtype=np.int64))
        model.setup(spec, dev)
        xi = torch.as_tensor(spec.images, device=dev)
        xt = torch.as_tensor(spec.texts, device=dev)
        f_img = bench.train_flops(model.modules["image"], xi[:8])
        ti = time_iteration(model, "image", xi, args.iters, args.amp)
        tt = time_iteration(model, "text", xt, args.iters, args.amp)
        epoch = math.ceil(args.n / b) * (ti + tt)
        print(f"| {name} | {model.config.image_net} | {b} | {1 / ti:.3f} | {b / ti:.1f} | {tt:.3f} | "
              f"{f_img / 1e9:.2f} | {peak / f_img:.0f} | {epoch:.0f} |", flush=True)


if __name__ == "__main__":
    main()
