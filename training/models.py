"""Model builders. Every model takes uint8 RGB pixels [None, S, S, 3] and scales them itself.

Layout: uint8 input -> augmentation (identity outside training) -> Rescaling(scale, offset)
from the shared Preprocessing -> backbone -> global average pooling -> dropout -> head.
Binary tasks get one sigmoid output for the positive class; multi-class tasks a softmax.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
from keras import layers

from seefood.errors import SeeFoodError
from seefood.preprocessing import Preprocessing

IMAGENET_FILES = {
    "mobilenet_v3_small": "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
    "mobilenet_v3_large": "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
    "efficientnet_b0": "efficientnetb0_notop.h5",
}


class WeightsError(SeeFoodError, RuntimeError):
    """Pretrained weights could not be had; the message says which file and how to supply it."""


def preprocessing_for(model_name: str, image_size: int) -> Preprocessing:
    """small_cnn wants [-1, 1]; keras.applications backbones normalise 0..255 input themselves."""
    if model_name == "small_cnn":
        return Preprocessing(image_size=image_size, scale=1.0 / 127.5, offset=-1.0)
    return Preprocessing(image_size=image_size, scale=1.0, offset=0.0)


def augmentation(level: str, seed: int, value_range: tuple[float, float]) -> keras.Sequential | None:
    """Flip, rotation, zoom, brightness/contrast as layers: active only when training.

    Runs after the pixel scaling, so ``value_range`` is the scaled range of a pixel.
    """
    if level == "none":
        return None
    strong = level == "strong"
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.12 if strong else 0.05, fill_mode="reflect", seed=seed + 1),
            layers.RandomZoom(0.25 if strong else 0.1, fill_mode="reflect", seed=seed + 2),
            *([layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed + 3)] if strong else []),
            layers.RandomBrightness(0.25 if strong else 0.1, value_range=value_range, seed=seed + 4),
            layers.RandomContrast(0.3 if strong else 0.1, value_range=value_range, seed=seed + 5),
        ],
        name="augmentation",
    )


def _separable_block(x, filters: int, stride: int, name: str):
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_dw_bn")(x)
    x = layers.ReLU(name=f"{name}_dw_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_pw_bn")(x)
    return layers.ReLU(name=f"{name}_pw_relu")(x)


# Faster-moving BatchNorm statistics than Keras's 0.99: small photo folders give few steps
# per epoch, and validation must not run on statistics still near their initial values.
BN_MOMENTUM = 0.9

# (filters, stride) of the depthwise-separable blocks after the stride-2 stem.
SMALL_CNN_BLOCKS = ((32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1))


def small_cnn_features(x):
    """A MobileNet-v1-style feature extractor sized for phones and CPU training (~0.1 M params)."""
    x = layers.Conv2D(24, 3, strides=2, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for i, (filters, stride) in enumerate(SMALL_CNN_BLOCKS):
        x = _separable_block(x, filters, stride, name=f"block{i + 1}")
    return layers.GlobalAveragePooling2D(name="pool")(x)


def _imagenet_backbone(model_name: str, image_size: int, weights: str):
    apps = keras.applications
    builder = {
        "mobilenet_v3_small": lambda w: apps.MobileNetV3Small(
            input_shape=(image_size, image_size, 3), include_top=False, weights=w, pooling="avg", include_preprocessing=True
        ),
        "mobilenet_v3_large": lambda w: apps.MobileNetV3Large(
            input_shape=(image_size, image_size, 3), include_top=False, weights=w, pooling="avg", include_preprocessing=True
        ),
        "efficientnet_b0": lambda w: apps.EfficientNetB0(
            input_shape=(image_size, image_size, 3), include_top=False, weights=w, pooling="avg"
        ),
    }[model_name]
    if weights == "none":
        return builder(None)
    if weights == "imagenet":
        try:
            return builder("imagenet")
        except Exception as error:  # urllib/HTTP/DNS errors all surface here
            expected = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / IMAGENET_FILES[model_name]
            raise WeightsError(
                f"could not download ImageNet weights for {model_name} ({type(error).__name__}: {error}). "
                f"Offline? Copy the file {IMAGENET_FILES[model_name]} from a machine with internet to {expected} "
                f"(Keras looks there first), or pass --weights /path/to/{IMAGENET_FILES[model_name]}"
            ) from error
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"--weights {weights}: no such file; expected 'none', 'imagenet' or a path to a .h5/.weights.h5 file")
    return builder(str(path))


def build_model(
    model_name: str,
    image_size: int,
    num_outputs: int,
    binary: bool,
    augment: str = "light",
    weights: str = "none",
    dropout: float = 0.25,
    seed: int = 1337,
    output_bias: list[float] | None = None,
) -> tuple[keras.Model, keras.Model | None]:
    """(model, backbone). ``backbone`` is the keras.applications part to freeze and unfreeze
    (None for small_cnn)."""
    prep = preprocessing_for(model_name, image_size)
    inputs = keras.Input((image_size, image_size, 3), dtype="uint8", name="image")
    # Rescaling casts the uint8 pixels to float: the model's own, only, scaling step.
    x = layers.Rescaling(prep.scale, prep.offset, name="scale_pixels")(inputs)
    aug = augmentation(augment, seed, (prep.offset, 255.0 * prep.scale + prep.offset))
    if aug is not None:
        x = aug(x)
    backbone = None
    if model_name == "small_cnn":
        features = small_cnn_features(x)
    else:
        backbone = _imagenet_backbone(model_name, image_size, weights)
        features = backbone(x, training=False)  # BatchNorm stays in inference mode when fine-tuning
    features = layers.Dropout(dropout, seed=seed, name="dropout")(features)
    bias = keras.initializers.Constant(output_bias) if output_bias is not None else "zeros"
    logits = layers.Dense(num_outputs, bias_initializer=bias, name="logits", dtype="float32")(features)
    activation = "sigmoid" if binary else "softmax"
    outputs = layers.Activation(activation, dtype="float32", name="scores")(logits)
    model = keras.Model(inputs, outputs, name=f"seefood_{model_name}")
    if model_name == "small_cnn" and weights not in ("none", "imagenet"):
        model.load_weights(weights)
    elif model_name == "small_cnn" and weights == "imagenet":
        raise WeightsError("small_cnn has no ImageNet weights; use --weights none, or a transfer --model")
    return model, backbone
