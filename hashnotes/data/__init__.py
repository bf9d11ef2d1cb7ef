"""Data: one way in, :func:`load` (a dataset name or a path in any on-disk layout), the embedded toy generator,
the named loaders, images from files, raw text, and protocol splits."""
from .base import CrossModalDataset, PairSet, Split, take_rows
from .images import IMAGE_EXTENSIONS, ImageFiles, cnn_features, descriptor_dim, image_descriptors, read_image
from .layouts import LAYOUTS, detect_layout, file_digest
from .loaders import (DATASETS, MIRFLICKR_LABELS, WIKI_LABELS, LazyImages, MirflickrPhotos, iapr, label_stats, load,
                      load_dcmh_mat, mirflickr25k, mirflickr_photos, mscoco, nuswide, shared_data_dir, wiki)
from .protocol import PROTOCOLS, Protocol, apply_split, make_split, scaled_sizes, toy_sizes
from .text import TextVectorizer
from .toy import toy, toy_pairs

__all__ = ["CrossModalDataset", "PairSet", "Split", "take_rows", "PROTOCOLS", "Protocol", "apply_split",
           "make_split", "toy_sizes", "toy", "toy_pairs", "shared_data_dir", "load_dcmh_mat", "mirflickr25k",
           "mirflickr_photos", "MirflickrPhotos", "nuswide", "iapr", "mscoco", "wiki", "label_stats",
           "LazyImages", "MIRFLICKR_LABELS", "WIKI_LABELS", "ImageFiles", "read_image", "image_descriptors",
           "descriptor_dim", "cnn_features", "IMAGE_EXTENSIONS", "TextVectorizer", "load", "DATASETS",
           "detect_layout", "LAYOUTS", "file_digest", "scaled_sizes"]
from .download import DownloadError, default_root, download
