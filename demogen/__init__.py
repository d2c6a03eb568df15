"""The demo generator: the built-in procedural dataset and the `seefood demo` flow.

No stage needs it (train, export and the app work on any photo folder and bundle), so it lives
outside the ``seefood`` core and the packaged desktop app leaves it out. ``seefood demo-data``
and ``seefood demo`` come from ``demogen.commands``, which ``seefood.cli`` registers when this
package is installed.

- ``data``: `generate` writes the dataset, its demo video and README (`is_demo_data` checks one);
- ``scenes``: the pictures as seeded parameter dicts (`sample_scene`) and their rendering (`render_scene`);
- ``render``: the small numpy signed-distance renderer the scenes draw with;
- ``commands``: the `seefood demo-data` and `seefood demo` subcommands.

Nothing here imports TensorFlow.
"""
