"""Which model class a weights entry's ``architecture`` names, and building it from the entry."""

from __future__ import annotations

import importlib

from torch import nn

from ..core.errors import InputError

__all__ = ["ARCHITECTURES", "model_from_card"]

# architecture (as in model cards) → (module in x2studio.models, class); the card's config holds
# the class's constructor arguments
ARCHITECTURES: dict[str, tuple[str, str]] = {
    "fabnet-autoencoder": ("fabnet", "Autoencoder"),
    "fabnet-rotation": ("fabnet", "RotationNet"),
    "fabnet": ("fabnet", "FAbNet"),
    "fabnet-head": ("fabnet", "AttributeHead"),
    "hierarchical": ("hierarchical", "HierarchicalEmbedding"),
    "x2face": ("x2face", "X2Face"),
    "vgg11-identity": ("vgg", "VGG11"),
    "vgg11-headpose": ("vgg", "PoseVGG11"),
    "vgg11-expression": ("vgg", "ExpressionVGG11"),
    "x2face-v2p": ("posemap", "PoseFromVector"),
    "x2face-p2v": ("posemap", "VectorFromPose"),
    "avsync": ("avsync", "AVSync"),
    "x2face-a2v": ("audiomap", "VectorFromAudio"),
    "piano": ("piano", "PianoNet"),
    "piano-fusion": ("piano_fusion", "PianoFusion"),
    "violin-teacher": ("violin", "PitchTeacher"),
    "violin-student": ("violin", "PitchStudent"),
}


def model_from_card(entry, device: str = "cpu", allowed: tuple[str, ...] | None = None) -> nn.Module:
    """The model of a weights entry (:class:`x2studio.weights.WeightsEntry`), weights loaded
    (checksum verified; float16 files load into float32 parameters), in eval mode."""
    arch = entry.card.architecture
    names = allowed if allowed is not None else tuple(ARCHITECTURES)
    if arch not in names or arch not in ARCHITECTURES:
        raise InputError(f"The weights '{entry.name}' are a '{arch}' model, which cannot be used here.",
                         f"Pick weights of: {', '.join(names)}.")
    module, cls_name = ARCHITECTURES[arch]
    cls = getattr(importlib.import_module(f"{__package__}.{module}"), cls_name)
    try:
        model = cls(**entry.card.config)
        model.load_state_dict(entry.load_state_dict())
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"The weights '{entry.name}' do not fit their model card ({str(exc).splitlines()[0]}).",
                         "Re-export or re-train them.") from exc
    return model.float().eval().to(device)
