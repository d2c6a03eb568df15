"""SeeFood: train food classifiers on your own photos and run them on your own devices.

The ``seefood`` package holds what every stage shares and what the desktop app may import, and
nothing here imports TensorFlow: image reading and the one folder walker (``images``), the one
preprocessing definition (``preprocessing``), the numeric core (``scoring``: the decision rule,
precision/recall/F1, PR-AUC), the bundle runtime (``bundle``, ``manifest``) and a bundle's versions
(``versions``, ``version_commands``: ``seefood bundle``), the error hierarchy
(``errors``), class names (``names``), atomic writes and output-folder ownership (``atomic``,
``ownership``) and the command line (``cli``, which only entry points import). Training and export
live in the ``training`` and ``export`` packages, the app in ``desktop``, the demo data in
``demogen``.
"""

__version__ = "0.1.0"
