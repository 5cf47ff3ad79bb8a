"""PyTorch datasets over a VOC split: augmented training crops and letterboxed evaluation inputs.

Decoded images are kept in RAM when the split fits the cache budget: they are read once, in the
main process before the DataLoader forks its workers, so the workers share them copy-on-write
instead of each re-reading and re-decoding every file every epoch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from edgeseg.data.augment import DEFAULT_AUGMENT, AugmentConfig, augment
from edgeseg.data.voc import IGNORE_INDEX, DataError, Split, read_sample
from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD, NEAREST, fit, normalize, preprocess


class SampleStore:
    """Reads a split's (image, label) pairs, from RAM after the first read when caching is on."""

    def __init__(self, split: Split, cache_gb: float = 4.0) -> None:
        if not split.samples:
            raise DataError(f"split {split.name!r} of {split.root} is empty: add image ids to its list file")
        self.split = split
        self._cache: list[tuple[np.ndarray, np.ndarray]] | None = None
        image, label = self.read(0)
        estimate = (image.nbytes + label.nbytes) * len(split.samples)
        if estimate <= cache_gb * 2**30:
            with ThreadPoolExecutor(4) as pool:  # OpenCV and zlib release the GIL while decoding
                self._cache = list(pool.map(self.read, range(len(split.samples))))

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return read_sample(self.split.samples[index], self.split.num_classes)

    def __len__(self) -> int:
        return len(self.split.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self._cache[index] if self._cache is not None else self.read(index)


class TrainDataset(Dataset):
    """Augmented crops of `size`. Each sample's randomness comes from (seed, epoch, index) alone,
    so an epoch is the same whatever the number of workers, and a resumed run repeats it exactly."""

    def __init__(
        self,
        store: SampleStore,
        size: tuple[int, int],
        *,
        seed: int,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        config: AugmentConfig = DEFAULT_AUGMENT,
    ) -> None:
        self.store, self.size, self.seed, self.mean, self.std, self.config = (
            store,
            size,
            seed,
            mean,
            std,
            config,
        )
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.store[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        image, label = augment(image, label, self.size, rng, self.config)
        return torch.from_numpy(normalize(image, self.mean, self.std)), torch.from_numpy(label.astype(np.int64))


class EvalDataset(Dataset):
    """Inputs pre-processed exactly as the runtime does (`edgeseg.runtime.preprocess`), the label
    placed the same way for the validation loss, and the full-resolution label for the metrics."""

    def __init__(
        self,
        store: SampleStore,
        size: tuple[int, int],
        *,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        resize: str = "letterbox",
        indices: list[int] | None = None,
    ) -> None:
        self.store, self.size, self.mean, self.std, self.resize = store, size, mean, std, resize
        self.indices = list(range(len(store))) if indices is None else indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image, label = self.store[self.indices[index]]
        tensor, placement = preprocess(image, self.size, mean=self.mean, std=self.std, mode=self.resize)
        placed_label = fit(label, placement, IGNORE_INDEX, NEAREST)
        return {"input": tensor[0], "target": placed_label, "label": label, "placement": placement}


def collate_eval(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "input": torch.from_numpy(np.stack([i["input"] for i in items])),
        "target": torch.from_numpy(np.stack([i["target"] for i in items]).astype(np.int64)),
        "labels": [i["label"] for i in items],
        "placements": [i["placement"] for i in items],
    }


class EpochSampler(Sampler[int]):
    """A shuffled order fixed by (seed, epoch), sharded across ranks, that can start mid-epoch.

    Every rank gets the same number of indices (the permutation is padded by wrapping around), as
    DistributedDataParallel needs; `start` skips the batches a resumed run has already trained on.
    """

    def __init__(self, size: int, *, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.seed, self.rank, self.world_size = size, seed, rank, world_size
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    @property
    def per_rank(self) -> int:
        """Indices each rank gets in a whole epoch."""
        return -(-self.size // self.world_size)

    def _indices(self) -> list[int]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
        order = np.resize(order, self.per_rank * self.world_size)
        return order[self.rank :: self.world_size].tolist()

    def __iter__(self):
        return iter(self._indices()[self.start :])

    def __len__(self) -> int:
        return max(0, self.per_rank - self.start)
