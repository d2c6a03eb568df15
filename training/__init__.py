"""Training: a folder of class subfolders in, a run folder out (layout in docs/design.md).

Owns everything that needs TensorFlow/Keras to learn: the data audit and content-hash split
(``audit``, ``dataset``), rebalancing (``balance``), the tf.data pipeline and scoring
(``pipeline``), the models (``models``), the fit loop in three steps (``train``: prepare, fit,
finish; ``fitting``: compile and the frozen/fine-tune phases; ``callbacks``; ``folds`` for
out-of-fold thresholds), threshold choice (``threshold``, ``guard``), the honest numbers and the
report (``metrics``, ``evaluate``, ``report``), the run folder's reader and writers (``run_io``),
``compare`` and ``predict``. Decisions and counts come from ``seefood.scoring``; errors derive
from ``seefood.errors.SeeFoodError``. ``commands`` and ``compare_commands`` register the CLI
without importing TensorFlow.
"""
