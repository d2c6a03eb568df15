"""TFLite model metadata: labels and input format inside ``model.tflite``.

Mobile runtimes (MediaPipe Tasks, ML Kit, the TFLite Task Library) read category names and the
input's normalisation from the model's TFLite metadata, so a phone app needs nothing but the
``.tflite`` file. We write:

- model: name, description, version, author, license, ``min_parser_version`` "1.0.0";
- input tensor ``image``: ``ImageProperties`` (RGB), ``NormalizationOptions`` mean 0 / std 1
  (identity: the model takes raw uint8 pixels and scales them itself, ``pixel * scale + offset``
  from the run's preprocessing, so a runtime must NOT normalise) and stats min 0 / max 255;
- output tensor ``probability``: ``FeatureProperties``, stats 0..1, and the labels as an
  associated file of type ``TENSOR_AXIS_LABELS`` (``labels.txt``: binary models have one output,
  the positive class, so the file holds that one name). No score calibration or thresholding
  process units: the outputs already are probabilities and the decision threshold lives in
  ``manifest.json`` (MediaPipe's own ``score_threshold`` option can be set from it).

Which library, and why. The maintained writers do not work with our pinned versions:
``tflite-support`` pins ``protobuf<4`` (TensorFlow 2.21 needs >= 6.31) and is unmaintained;
mediapipe 0.10.21's writer pins ``protobuf<5``; mediapipe 1.2.2 (installed) ships the writer but
it fails on import because its compiled ``_pywrap_metadata_version`` is missing from the wheel.
The writer's logic needs only two things that *do* ship and import cleanly: the generated
flatbuffer modules ``mediapipe.tasks.metadata.metadata_schema_py_generated`` (the metadata
schema) and ``schema_py_generated`` (the TFLite model schema), plus the ``flatbuffers`` package.
So we build the metadata with those generated object-API classes (no hand-written flatbuffer
bytes) and populate the model the way ``MetadataPopulator`` does, reimplementing its two
pure-Python steps in a few lines instead of importing ``metadata.py`` (which would need a stub for
the missing compiled module):

1. put the metadata buffer into ``Model.buffers`` and reference it from ``Model.metadata`` under
   the name ``TFLITE_METADATA`` (replacing an existing one), repacked with identifier ``TFL3``;
2. append the associated files as a zip archive after the flatbuffer (a zip's directory sits at
   its end, so the file is a valid flatbuffer and a valid zip at once).

The one compiled step we skip, ``GetMinimumMetadataParserVersion``, computes the oldest parser
that understands the fields used; every field we write exists since metadata 1.0.0, so we set
"1.0.0". ``tests/test_export.py`` proves the result with MediaPipe Tasks' ``ImageClassifier``.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import flatbuffers
import numpy as np

from mediapipe.tasks.metadata import metadata_schema_py_generated as _meta
from mediapipe.tasks.metadata import schema_py_generated as _schema

METADATA_FIELD_NAME = "TFLITE_METADATA"
METADATA_FILE_IDENTIFIER = b"M001"
TFLITE_FILE_IDENTIFIER = b"TFL3"
MIN_PARSER_VERSION = "1.0.0"  # every field below exists since metadata schema 1.0.0
LABELS_FILE = "labels.txt"


@dataclass(frozen=True)
class ModelInfo:
    """What the metadata says about a bundle's model."""

    name: str
    description: str
    version: str
    labels: list[str]
    author: str = "SeeFood"
    license: str = ""


def build_metadata(info: ModelInfo) -> bytes:
    """The ModelMetadata flatbuffer for a uint8 RGB image classifier."""
    image = _meta.TensorMetadataT()
    image.name = "image"
    image.description = (
        "RGB uint8 pixels, centre-cropped to a square and resized (bilinear); "
        "the model scales them itself, so feed raw pixels."
    )
    image.content = _meta.ContentT()
    image.content.contentPropertiesType = _meta.ContentProperties.ImageProperties
    image.content.contentProperties = _meta.ImagePropertiesT()
    image.content.contentProperties.colorSpace = _meta.ColorSpaceType.RGB
    normalization = _meta.ProcessUnitT()
    normalization.optionsType = _meta.ProcessUnitOptions.NormalizationOptions
    normalization.options = _meta.NormalizationOptionsT()
    normalization.options.mean = [0.0, 0.0, 0.0]
    normalization.options.std = [1.0, 1.0, 1.0]
    image.processUnits = [normalization]
    image.stats = _meta.StatsT()
    image.stats.min = [0.0]
    image.stats.max = [255.0]

    scores = _meta.TensorMetadataT()
    scores.name = "probability"
    scores.description = "Probability of each label in labels.txt" + (
        " (binary model: the positive class only)." if len(info.labels) == 1 else "."
    )
    scores.content = _meta.ContentT()
    scores.content.contentPropertiesType = _meta.ContentProperties.FeatureProperties
    scores.content.contentProperties = _meta.FeaturePropertiesT()
    scores.stats = _meta.StatsT()
    scores.stats.min = [0.0]
    scores.stats.max = [1.0]
    labels = _meta.AssociatedFileT()
    labels.name = LABELS_FILE
    labels.description = "Labels for the output scores, one per line."
    labels.type = _meta.AssociatedFileType.TENSOR_AXIS_LABELS
    scores.associatedFiles = [labels]

    subgraph = _meta.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image]
    subgraph.outputTensorMetadata = [scores]

    model = _meta.ModelMetadataT()
    model.name = info.name
    model.description = info.description
    model.version = info.version
    model.author = info.author
    model.license = info.license
    model.subgraphMetadata = [subgraph]
    model.minParserVersion = MIN_PARSER_VERSION

    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), METADATA_FILE_IDENTIFIER)
    return bytes(builder.Output())


def _check_tensor_counts(model: "_schema.ModelT") -> None:
    subgraph = model.subgraphs[0]
    if len(model.subgraphs) != 1 or len(subgraph.inputs) != 1 or len(subgraph.outputs) != 1:
        raise ValueError(
            "metadata describes one subgraph with one image input and one score output; this model has "
            f"{len(model.subgraphs)} subgraph(s), {len(subgraph.inputs)} input(s), {len(subgraph.outputs)} output(s)"
        )


def populate(model_bytes: bytes, metadata: bytes, associated_files: dict[str, bytes]) -> bytes:
    """The model with ``metadata`` in its ``TFLITE_METADATA`` buffer and the files zipped after it."""
    if model_bytes[4:8] != TFLITE_FILE_IDENTIFIER:
        raise ValueError("not a TFLite model (no TFL3 identifier)")
    if not _meta.ModelMetadata.ModelMetadataBufferHasIdentifier(metadata, 0):
        raise ValueError("not a TFLite metadata buffer (no M001 identifier)")
    model = _schema.ModelT.InitFromObj(_schema.Model.GetRootAsModel(model_bytes, 0))
    _check_tensor_counts(model)
    buffer = _schema.BufferT()
    buffer.data = np.frombuffer(metadata, dtype=np.uint8)  # numpy: packed as one vector, not per byte
    model.buffers = list(model.buffers or [])
    model.metadata = list(model.metadata or [])
    for entry in model.metadata:
        if entry.name and entry.name.decode("utf-8") == METADATA_FIELD_NAME:
            model.buffers[entry.buffer] = buffer
            break
    else:
        model.buffers.append(buffer)
        entry = _schema.MetadataT()
        entry.name = METADATA_FIELD_NAME
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), TFLITE_FILE_IDENTIFIER)
    out = io.BytesIO()
    out.write(builder.Output())
    with zipfile.ZipFile(out, "a") as archive:  # "a" on a non-zip appends a new archive at the end
        for name, data in associated_files.items():
            archive.writestr(name, data)
    return out.getvalue()


def add_classifier_metadata(model_bytes: bytes, info: ModelInfo) -> bytes:
    """Model bytes with classifier metadata and ``labels.txt`` packed inside."""
    labels_text = ("\n".join(info.labels) + "\n").encode("utf-8")
    return populate(model_bytes, build_metadata(info), {LABELS_FILE: labels_text})


def read_metadata(model_bytes: bytes) -> "_meta.ModelMetadataT | None":
    """The model's metadata as generated objects, or None when it has none."""
    model = _schema.Model.GetRootAsModel(model_bytes, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() and entry.Name().decode("utf-8") == METADATA_FIELD_NAME:
            data = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
            return _meta.ModelMetadataT.InitFromObj(_meta.ModelMetadata.GetRootAsModelMetadata(data, 0))
    return None


def read_associated_files(model_bytes: bytes) -> dict[str, bytes]:
    """The files packed after the flatbuffer (empty when there are none)."""
    stream = io.BytesIO(model_bytes)
    if not zipfile.is_zipfile(stream):
        return {}
    with zipfile.ZipFile(stream) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
