"""SeeFood desktop app: live classification of a webcam, video, image or folder with an exported bundle.

Imports only ``seefood.*``, PySide6, OpenCV and the LiteRT interpreter; never TensorFlow.
Start it with ``seefood app`` (see ``desktop/commands.py``).
"""
