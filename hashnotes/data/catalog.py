"""What the package knows about the public datasets by name: the names ``data.load`` accepts, their label
names, and the variable names their ``.mat`` files use (shared by the named loaders and the layouts)."""
from __future__ import annotations

__all__ = ["DATASETS", "MIRFLICKR_LABELS", "WIKI_LABELS", "IMAGE_KEYS", "TEXT_KEYS", "LABEL_KEYS"]

# the names hashnotes.data.load (and --data on the command line) resolves; anything else is a path
DATASETS = ("toy", "mirflickr25k", "nuswide", "iapr", "mscoco", "wiki")

MIRFLICKR_LABELS = ("animals", "baby", "bird", "car", "clouds", "dog", "female", "flower", "food", "indoor",
                    "lake", "male", "night", "people", "plant_life", "portrait", "river", "sea", "sky",
                    "structures", "sunset", "transport", "tree", "water")
# class ids 1..10 of the Wikipedia dataset (Rasiwasia et al. 2010), in the release's (alphabetical) order
WIKI_LABELS = ("art", "biology", "geography", "history", "literature", "media", "music", "royalty", "sport",
               "warfare")

# accepted names (case-insensitive) of the three arrays inside .mat files
IMAGE_KEYS = ("IAll", "images", "image", "imgs", "I", "FAll", "X", "features", "img_feats")
TEXT_KEYS = ("YAll", "TAll", "tags", "tag", "texts", "text", "T", "Y", "caption", "captions")
LABEL_KEYS = ("LAll", "labels", "label", "L", "lab")
