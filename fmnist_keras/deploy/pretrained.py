"""The committed trained models by name, as keras-hub's ``from_preset`` loads weights.

``list_pretrained()`` names every model under ``saved_models/`` (each a TF Serving
model folder with numbered versions and a model card); ``load_pretrained(NAME)``
returns its newest version as a Keras model that takes float images in 0..255, of
shape ``(N, 28, 28)`` or ``(N, 28, 28, 1)``, and returns class probabilities
``(N, 10)``. Normalisation (and, for flip exports, test-time averaging) is inside
the exported graph. ``FMNIST_KERAS_MODELS`` points elsewhere than the repository's
``saved_models/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from fmnist_keras.report import cards
from fmnist_keras.train import distill

MODELS_ENV_VAR = "FMNIST_KERAS_MODELS"


def models_dir() -> Path:
    return Path(os.environ.get(MODELS_ENV_VAR, Path(__file__).resolve().parents[2] / "saved_models"))


def _versions(model_dir: Path) -> list[int]:
    return sorted(int(p.name) for p in model_dir.iterdir()
                  if p.is_dir() and p.name.isdigit() and (p / "saved_model.pb").exists())


def newest_version(model_dir: Path) -> Path:
    """``model_dir/VERSION`` for the highest numbered version."""
    return model_dir / str(_versions(model_dir)[-1])


def list_pretrained() -> list[str]:
    """Names of the trained models (``saved_models/NAME/VERSION/``)."""
    root = models_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _versions(p))


def pretrained_path(name: str, version: int | None = None) -> Path:
    """``saved_models/NAME/VERSION`` (the newest version unless given).

    Raises:
        ValueError: naming the known models or versions.
    """
    known = list_pretrained()
    if name not in known:
        raise ValueError(f"No pretrained model {name!r}; known: {', '.join(known) or 'none'} "
                         f"(in {models_dir()}, or set ${MODELS_ENV_VAR}).")
    versions = _versions(models_dir() / name)
    if version is None:
        return newest_version(models_dir() / name)
    if version not in versions:
        raise ValueError(f"{name} has no version {version}; versions: "
                         f"{', '.join(map(str, versions))}.")
    return models_dir() / name / str(version)


class PretrainedClassifier(keras.Model):
    """An exported model's ``serving_float`` signature as a Keras model."""

    def __init__(self, path, **kwargs):
        # float32 whatever the global policy: the exported graph takes and gives float32.
        super().__init__(dtype="float32", **kwargs)
        self.saved_model_dir = str(path)
        self.serving = keras.layers.TFSMLayer(self.saved_model_dir, call_endpoint="serving_float",
                                              dtype="float32")

    def call(self, images):
        images = keras.ops.convert_to_tensor(images, "float32")
        if len(images.shape) == 4:
            images = keras.ops.squeeze(images, axis=-1)
        return self.serving(images)["probabilities"]


def load_pretrained(name: str, version: int | None = None) -> PretrainedClassifier:
    """The trained model ``name`` (see `list_pretrained`), ready for ``predict``."""
    return PretrainedClassifier(pretrained_path(name, version), name=name)


def exported_model_dir(path_or_name) -> Path | None:
    """``saved_models/NAME`` for a trained model's name or folder (one with numbered
    versions), else None."""
    if str(path_or_name) in list_pretrained():
        return models_dir() / str(path_or_name)
    path = Path(path_or_name)
    return path if path.is_dir() and _versions(path) else None


def load_teacher(path, dataset: str, split: str, splits):
    """A distillation teacher (`fmnist_keras.train.distill`): a trained model's name or
    folder under ``saved_models/``, or else a finished run's directory.

    An exported model's card says what it trained on, which is checked as a run's
    config is; it normalises inside its graph, so it is given this run's normalised
    images back as pixels, and its log-probabilities serve as logits (a softmax of
    them at any temperature is the softmax of its logits at that temperature).

    Raises:
        TeacherError: for a teacher of other data, or one that trained on held-out images.
    """
    model_dir = exported_model_dir(path)
    if model_dir is None:
        return distill.load_teacher(path, dataset, split, splits)
    distill.check_trained_on(path, cards.read_recipe(model_dir), dataset, split, splits)
    classifier = PretrainedClassifier(newest_version(model_dir), name=model_dir.name)
    mean, std = splits.info.mean, splits.info.std

    def logits_of_normalised(images):
        pixels = (keras.ops.squeeze(images, axis=-1) * std + mean) * 255.0
        return keras.ops.log(keras.ops.maximum(classifier(pixels), 1e-12))

    return logits_of_normalised
