# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Running at full size
#
# The chapters train reduced models that fit a laptop CPU. This appendix is for the reader who wants the papers'
# settings: the published data sets, the `.paper()` presets, a GPU. It lists what each preset trains, how to get
# a data set into the package, the commands that reproduce a paper protocol, what the training costs, and how to
# search a large collection with the codes.

# %% tags=["hide-input"]
# Setup, the same in every chapter (written by `python3 make.py sync`; edit make.py, not here).
# Installs hashnotes 0.1.0 when it is not importable (e.g. in Colab) and reports the hardware: with a GPU
# the chapters train their larger ("full") settings, on a CPU the reduced ones each chapter states.
import importlib.util

if importlib.util.find_spec("hashnotes") is None:
    get_ipython().run_line_magic("pip", "install -q 'hashnotes @ git+https://github.com/hashnotes/hashnotes@v0.1.0'")

import torch

import hashnotes

GPU = torch.cuda.is_available()
PRESET = "full" if GPU else "reduced"
print(f"hashnotes {hashnotes.__version__}, torch {torch.__version__}; "
      + (f"GPU: {torch.cuda.get_device_name(0)}" if GPU else "no GPU") + f"; training settings: {PRESET}")

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from hashnotes import bench, methods, plots, widgets
from hashnotes.data.base import PairSet

glue, table = widgets.glue, plots.table

# %% [markdown]
# ## The paper presets
#
# `Method.paper(bits=...)` holds each paper's settings as the method chapters and the appendix {doc}`A1_notation`
# describe them; `Method.small(...)` the reduced ones of the chapters. The image networks load ImageNet weights
# from a file you give (`pretrained_path=`; nothing is downloaded): a MatConvNet `imagenet-vgg-f.mat` for CNN-F,
# a torchvision state dict for ResNet-34 and AlexNet.

# %%
PAPER = {name: methods.get(name).paper(bits=32).config for name in ("dcmh", "cdhcr", "tdh", "daph", "ugach")}
rows = []
for name, c in PAPER.items():
    image = f"{c.image_net}, {c.image_size} px" if hasattr(c, "image_net") else "MLP on image features"
    stages = f"{c.proxy_epochs} + {c.epochs}" if hasattr(c, "proxy_epochs") else (
        f"{c.pretrain_epochs} + {c.epochs}" if hasattr(c, "pretrain_epochs") else f"{c.epochs}")
    rows.append([name.upper(), image, stages, c.batch_size, c.optimizer])
table(rows, ["method", "image network", "epochs", "batch", "optimiser"])

# %% [markdown]
# DAPH's and UGACH's epochs come in two stages (the proxy network, then the hashing networks; the
# discriminator's pre-training, then the adversarial rounds).
#
# ## Getting a data set in
#
# `hashnotes.data.load(path)` and `--data PATH` on the command line read the layouts in which the public
# toolkits ship MIRFLICKR-25K, NUS-WIDE, IAPR TC-12 and MS-COCO ({doc}`03_data`): the DCMH `.mat` files
# (`IAll`, `YAll`, `LAll`), name lists with an image folder, the CLIP toolkits' index/caption/label files, HDF5
# train/query/database files, and pre-extracted feature `.mat` files. The loader prints the layout it found and
# cuts the data set's published split (MIRFLICKR-25K: 2,000 queries, 10,000 training pairs drawn from the
# database, as DCMH's protocol); a missing or malformed file stops it with the name of the file and what was
# expected. `--cache DIR` keeps decoded pixels on disk between runs.
#
# ## The commands
#
# One method, three code lengths, the paper preset, on a GPU, saving the models:
#
# ```bash
# python -m hashnotes train dcmh --data /data/mirflickr --bits 16 32 64 --preset paper --device cuda \
#     --save-dir runs/dcmh --json > runs/dcmh.jsonl
# ```
#
# The whole comparison of {doc}`09_comparison` at full size, resumable (a rerun skips the finished runs):
#
# ```bash
# python -m hashnotes bench --methods dcmh cdhcr tdh daph ugach cca random --bits 16 32 64 \
#     --data /data/mirflickr --preset paper --device cuda --seeds 3 --out runs/mirflickr
# HASHNOTES_FULL_RESULTS=runs/mirflickr/results.jsonl jupyter nbconvert --execute --to html 09_comparison.ipynb
# ```
#
# The second line renders the comparison chapter with your rows beside the published ones. On several GPUs,
# `torchrun` starts one process per GPU; every process trains its share of each batch (PyTorch's
# DistributedDataParallel), the alternating methods gather every batch's outputs into the buffers of all
# processes, and only the first process writes results and checkpoints:
#
# ```bash
# torchrun --nproc_per_node 4 -m hashnotes train tdh --data /data/nuswide --bits 64 --preset paper --device cuda
# ```
#
# With ImageNet weights, give them to the preset in Python
# (`methods.DCMH.paper(bits=32, pretrained_path="imagenet-vgg-f.mat")`); `--image-features WEIGHTS` on the command
# line instead turns the photos into the network's penultimate features once, for methods that train on features.
#
# ## What it costs
#
# The cost of a deep method is dominated by its image network. The cell below counts the floating-point
# operations of one image's forward and backward pass through each preset's network (PyTorch's FLOP counter, at
# 224 pixels), and multiplies by the training set and the epochs: the arithmetic a full run must do.

# %%
rng = np.random.default_rng(0)
probe = PairSet(images=rng.integers(0, 256, (4, 3, 224, 224), dtype=np.uint8),
                texts=(rng.random((4, 1386)) < 0.01).astype(np.float32), labels=np.eye(4, 24, dtype=np.uint8),
                ids=np.arange(4))


N_TRAIN = 10_000   # MIRFLICKR-25K's training pairs under the DCMH protocol
x = torch.as_tensor(probe.images[:2])
cost = {}
for name in ("dcmh", "cdhcr", "tdh", "daph"):
    model = methods.get(name).paper(bits=32)
    model.setup(probe, "cpu")
    net = model.modules["image"]
    epochs = model.config.epochs      # DAPH: the hashing stage; its proxy network is small and sees labels
    cost[name] = {"net": model.config.image_net, "gflop": bench.train_flops(net, x) / 1e9, "epochs": epochs}
    cost[name]["pflop_run"] = cost[name]["gflop"] * 1e9 * N_TRAIN * epochs / 1e15
    glue(f"{name}_gflop", cost[name]["gflop"])
    glue(f"{name}_pflop", cost[name]["pflop_run"])

# the CPU here: one training iteration of CNN-F on 8 images (forward, backward, SGD step)
model = methods.DCMH.paper(bits=32)
model.setup(probe, "cpu")
net, opt = model.modules["image"], torch.optim.SGD(model.modules["image"].parameters(), lr=1e-3)
xb = torch.as_tensor(np.repeat(probe.images, 2, axis=0))
for i in range(3):
    if i == 1:
        t0 = time.perf_counter()
    opt.zero_grad()
    net(xb).square().mean().backward()
    opt.step()
cpu_rate = 2 * len(xb) / (time.perf_counter() - t0)
glue("cpu_images_per_s", cpu_rate)
glue("cpu_threads", torch.get_num_threads())
glue("cpu_dcmh_epoch_min", N_TRAIN / cpu_rate / 60)
glue("cpu_dcmh_run_days", N_TRAIN * cost["dcmh"]["epochs"] / cpu_rate / 86400)
table([[n.upper(), c["net"], c["gflop"], c["epochs"], c["pflop_run"]] for n, c in cost.items()],
      ["method", "image network", "GFLOP per image (forward + backward)", "epochs", "PFLOP per run (10,000 images)"],
      {"GFLOP per image (forward + backward)": ".2f", "PFLOP per run (10,000 images)": ".1f"})

# %% [markdown]
# GPUs are rated by their peak rate of dense matrix arithmetic in half precision (bfloat16 or float16); the rates
# below are the vendors' published figures, and dividing the run's arithmetic by them gives a *lower bound* on
# its time. Real runs are slower, often several times: small convolutions do not reach the peak, and decoding
# 224-pixel JPEGs can be the bottleneck (the presets' `loader_workers` decode them off the training thread, and
# `amp=True` runs the networks in bfloat16 with the likelihoods in float32). No GPU was available where this book
# was built, so these are the bounds, not measurements; {repo}`benchmarks/bench_paper_epoch.py` in the repository
# measures images per second and the epoch time on your device next to the same bound.

# %%
PEAK_TFLOPS = {"NVIDIA T4 (Colab's free GPU), float16": 65, "NVIDIA A100, bfloat16": 312,
               "NVIDIA H100 SXM, bfloat16": 989}
bound_rows = []
for gpu, tflops in PEAK_TFLOPS.items():
    for name, c in cost.items():
        bound_rows.append([gpu, name.upper(), tflops * 1e12 / (c["gflop"] * 1e9),
                           c["pflop_run"] * 1e15 / (tflops * 1e12) / 60])
glue("t4_dcmh_min", [r[3] for r in bound_rows if r[0].startswith("NVIDIA T4") and r[1] == "DCMH"][0])
table(bound_rows, ["GPU (vendor peak)", "method", "images/s at the peak", "minutes per run at the peak"],
      {"images/s at the peak": ",.0f", "minutes per run at the peak": ".0f"})

# %% [markdown]
# One CNN-F image costs {glue:text}`dcmh_gflop:.1f` GFLOP forward and backward, and DCMH's 500 epochs over 10,000
# images {glue:text}`dcmh_pflop:.0f` PFLOP. The CPU this book was built on trains {glue:text}`cpu_images_per_s:.1f`
# images per second with {glue:text}`cpu_threads` threads: {glue:text}`cpu_dcmh_epoch_min:.0f` minutes per epoch of
# the image network, {glue:text}`cpu_dcmh_run_days:.0f` days for the paper's run. A T4 at its peak would need
# {glue:text}`t4_dcmh_min:.0f` minutes, a bound that real runs do not approach: at this size the fixed cost of each
# of the run's tens of thousands of iterations (launching kernels, the optimiser step, the text network, moving
# a batch to the GPU) and decoding the JPEGs take most of the time. Measure your own device before planning a
# run: {repo}`benchmarks/bench_paper_epoch.py` with `--device cuda --amp` prints its images per second and epoch time.
#
# ## In Colab
#
# 1. Open a chapter with the launch button at the top of its page; choose *Runtime → Change runtime type → GPU*.
# 2. Run the first cell: it installs the package at the book's version when it is missing and reports the GPU;
#    with one, the chapters train their larger settings.
# 3. For full-size runs, put the data set on Google Drive (`from google.colab import drive;
#    drive.mount("/content/drive")`) and pass its folder as `--data`. Decoded pixels are worth caching on the
#    local disk (`--cache /content/cache`): reading JPEGs from Drive is slow.
# 4. Colab sessions end after some hours: `bench` resumes from the rows already written, so write `--out` to
#    Drive and rerun the same command.
#
# ## Searching a large collection
#
# Training gives codes; searching millions of them needs an index. `hashnotes.index.HammingIndex` wraps faiss's
# binary indexes (install the extra: `pip install "hashnotes[index]"`): `kind="flat"` scans every code and returns
# exactly the Hamming ranking of {doc}`02_evaluation` (ties by position), `"ivf"` scans only the codes in the
# `nprobe` clusters nearest the query, and `"hnsw"` walks a graph of near neighbours. From the command line:
#
# ```bash
# python -m hashnotes index runs/dcmh/dcmh-64.pt --data /data/mirflickr --direction t2i --kind ivf -k 100 \
#     --recall --save-index mirflickr-64.index
# ```
#
# The approximate indexes trade recall for speed. The repository's {repo}`benchmarks/bench_index.py` measured them on
# 64-bit codes clustered as a hashing model's are (10,000 centres, every bit flipped with probability 0.1), with
# 1,000 queries, 100 neighbours each, on one thread; recall@100 counts a returned item as found when it is at most
# as far as the exact 100th neighbour:

# %% mystnb={"figure": {"name": "fig-index-recall", "caption": "Queries per second against recall@100 of faiss's approximate binary indexes (IVF: one point per nprobe; HNSW: one point per search breadth) at 1 million and 10 million 64-bit codes, one thread; the exact scan is the single point at recall 1."}}
INDEX = bench.reference_index_benchmark()
fig, ax = plt.subplots(figsize=(7, 4.2))
for (n, kind), pts in sorted(INDEX.items()):
    pts = sorted(pts, key=lambda p: p["recall"])
    ax.plot([p["recall"] for p in pts], [p["qps"] for p in pts], marker="o", ms=4,
            ls="none" if kind == "flat" else "-", label=f"{kind}, {n / 1e6:g}M codes")
ax.set_yscale("log")
ax.set_xlabel("recall@100 (by distance)")
ax.set_ylabel("queries per second")
ax.grid(alpha=0.3, which="both")
ax.legend(fontsize="small")
plt.tight_layout()
plt.show()

# %%
def best_at(n, kind, min_recall):
    ok = [p for p in INDEX.get((n, kind), []) if p["recall"] >= min_recall]
    return max(ok, key=lambda p: p["qps"]) if ok else None


sizes = sorted({n for n, _ in INDEX})
big = sizes[-1]
flat = INDEX[(big, "flat")][0]
ivf = best_at(big, "ivf", 0.95)
assert flat["recall"] == 1.0 and ivf is not None and ivf["qps"] > 2 * flat["qps"]   # the text below
glue("index_big_m", big / 1e6)
glue("index_flat_qps", flat["qps"])
glue("index_flat_mb", flat["index_mb"])
glue("index_ivf_qps", ivf["qps"])
glue("index_ivf_recall", ivf["recall"])
glue("index_ivf_setting", ivf["setting"])
glue("index_ivf_speedup", ivf["qps"] / flat["qps"])
table([[f"{n:,}", kind, p["setting"], p["build_s"], p["index_mb"], p["qps"], p["recall"]]
       for (n, kind), pts in sorted(INDEX.items()) for p in pts],
      ["codes", "index", "setting", "build s", "index MB", "queries/s", "recall@100"],
      {"build s": ".1f", "index MB": ".0f", "queries/s": ",.0f", "recall@100": ".3f"})

# %% [markdown]
# At {glue:text}`index_big_m:.0f` million codes the exact scan answers {glue:text}`index_flat_qps:,.0f` queries
# per second on one thread from a {glue:text}`index_flat_mb:,.0f` MB index; the inverted file with
# {glue:text}`index_ivf_setting` answers {glue:text}`index_ivf_qps:,.0f` per second
# ({glue:text}`index_ivf_speedup:.0f` times as many) at recall {glue:text}`index_ivf_recall:.3f`. Below a million
# codes the exact scan is fast enough and has nothing to tune.
