"""SeeFood: train food classifiers on your own photos and run them on your own devices.

The ``seefood`` package holds what every stage shares and what the desktop app may import:
image reading, the one preprocessing definition, the bundle runtime. Nothing here imports
TensorFlow; training and export live in the ``training`` and ``export`` packages.
"""

__version__ = "0.1.0"
