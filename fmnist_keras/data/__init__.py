"""The datasets: where their files come from (`sources`), how they are split, and the
pipelines (`pipeline`) and augmentation layers (`augment`) that feed training."""

from fmnist_keras.data.sources import (
                                       DATA_ENV_VAR,
                                       DATASETS,
                                       SPLITS,
                                       DataError,
                                       DataNotFoundError,
                                       DatasetInfo,
                                       DataSplits,
                                       dataset_info,
                                       load_arrays,
                                       load_splits,
                                       read_idx,
)

__all__ = ["DATA_ENV_VAR", "DATASETS", "SPLITS", "DataError", "DataNotFoundError",
           "DatasetInfo", "DataSplits", "dataset_info", "load_arrays", "load_splits",
           "read_idx"]
