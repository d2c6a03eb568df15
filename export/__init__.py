"""Export: a run folder in, a verified TFLite bundle out (format in docs/bundle-format.md).

Owns conversion and quantization (``convert``), TFLite metadata (``metadata``), the bundle's
files and atomic staging (``bundle_writer``), the agreement check against the Keras model
(``verify``), the pipeline that ties them together with fallbacks (``exporter``, options in
``ExportOptions``) and latency measurement (``bench``). Runs are read by
``training.run_io.load_run``; bundles are loaded by ``seefood.bundle``. ``commands`` registers
``seefood export``, ``verify`` and ``bench`` without importing TensorFlow.
"""
