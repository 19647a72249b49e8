"""Class maps: a backbone's ImageNet classifier, convolutionalised, as a dense predictor.

The step FCN (Long, Shelhamer, Darrell 2015, section 3.1) starts from: a classifier's
fully connected layers are convolutions whose kernels cover their whole input, so the
same weights slid over a larger image give a map of class scores instead of one vector.

- Backbones whose classifier flattens the stride-32 features (VGG16: pool5 7x7x512 ->
  fc1 -> fc2 -> predictions): fc1 becomes a 7x7 convolution without padding, fc2 and
  the class layer 1x1 convolutions, with the Dense kernels reshaped. At 224x224 the map
  is 1x1 and equals the classifier's output; at 448x448 it is 8x8 (one score vector per
  224x224 window, 32 px apart). The whole image goes through the convolutions, so a
  window's scores also use the context the padded convolutions see around it: they are
  not the classifier's scores on a 224x224 crop. The input must be at least 224 px on
  each side.
- Backbones whose classifier averages the stride-32 features (ResNet50, DenseNet,
  MobileNetV2, EfficientNet: global average pooling -> predictions): the class layer becomes a 1x1 convolution on those features,
  a map at stride 32 whose spatial mean equals the classifier's logits (a linear layer
  commutes with the average; with ``activation=None``).
"""

from __future__ import annotations

import keras

from zoo.models.backbones import BACKBONES, get_backbone
from zoo.models.encoder import build_encoder

ACTIVATIONS = (None, "softmax")


def class_maps(
    backbone: str = "vgg16",
    encoder_weights="imagenet",
    input_shape=(None, None, 3),
    activation: str | None = "softmax",
    name: str | None = None,
) -> keras.Model:
    """The ImageNet classifier of ``backbone`` as a fully convolutional network.

    Args:
        backbone: registry name (``zoo.BACKBONES``).
        encoder_weights: ``"imagenet"`` (the with-top file of the backbone: its classifier
            is needed), None (random initial weights) or the path of a with-top weights file (a legacy
            Keras ``.h5`` or a Keras 3 ``.weights.h5``, ``zoo.models.encoder.load_pretrained``).
        input_shape: ``(height, width, channels)``; any sizes, or None (other than multiples of 32 are padded to
            one by reflection inside, ``zoo.models.layers.PadToMultiple``, and the maps cover the padded picture,
            ``ceil(H / 32)``), at least ``32 * classifier_window``, 224, for VGG16. Other than 3 channels
            adapt the first convolution as the builders do.
        activation: ``"softmax"`` (class probabilities per position) or None (logits).
        name: model name (default ``class_maps_<backbone>``).

    Returns:
        A functional model: preprocessed pixels ``[B, H, W, C]`` (``zoo.preprocess_input``) ->
        float32 ``[B, h, w, classes]``, with ``h = ceil(H / 32) - 6`` for VGG16 and ``ceil(H / 32)`` for
        pooled classifiers (ResNet50). Raises ValueError for a weights file without the
        classifier (naming the file to fetch) or an input smaller than the classifier's window.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS} (None gives logits), got {activation!r}")
    spec = get_backbone(backbone)
    what = f"class_maps on {spec.name}"
    if not spec.classifier:
        able = sorted(name for name, other in BACKBONES.items() if other.classifier)
        raise ValueError(
            f"{what}: its ImageNet classifier is not linear after pooling (MobileNetV3: a convolution "
            "and hard-swish; ConvNeXt: a LayerNormalization), so no map of class scores equals it; "
            f"use one of {', '.join(able)}"
        )
    if spec.top_dense:
        smallest = 32 * spec.classifier_window
        for size in tuple(input_shape)[:2]:
            if size is not None and size < smallest:
                raise ValueError(
                    f"{what}: input_shape {tuple(input_shape)} is smaller than the classifier's "
                    f"{smallest}x{smallest} window; give at least {smallest} px per side (or None)"
                )
    encoder = build_encoder(spec.name, input_shape, encoder_weights, classifier=True, what=what)
    x = encoder.features[32]
    convolutions = []
    for index, (dense, units) in enumerate(zip(spec.top_dense, spec.top_units)):
        size = spec.classifier_window if index == 0 else 1
        layer = keras.layers.Conv2D(units, size, padding="valid", activation="relu", name=f"{dense}_conv")
        x = layer(x)
        convolutions.append((dense, layer))
    layer = keras.layers.Conv2D(spec.classes, 1, name=f"{spec.classifier}_conv", dtype="float32")
    outputs = layer(x)
    convolutions.append((spec.classifier, layer))
    if activation is not None:
        outputs = keras.layers.Activation(activation, dtype="float32", name="class_probabilities")(outputs)
    model = keras.Model(encoder.inputs, outputs, name=name or f"class_maps_{spec.name}")
    if encoder.weights_source is not None:
        for dense, conv in convolutions:
            kernel, bias = encoder.top_weights[dense]
            conv.set_weights([kernel.reshape(conv.kernel.shape), bias])
    return model
