"""Retraining a bundle: ``seefood retrain BUNDLE`` continues the bundle's run on the training folder
as it is now, exports and verifies the new model like the bundle, compares old and new on the photos
both held back, and keeps the new model as the bundle's next version when it is not worse.

A package of its own because it sits on top of both ``training`` (the new run) and ``export`` (the
new bundle): in ``training`` it would make training import export, a cycle (export reads runs with
``training.run_io``). ``compare`` is numpy only (the figures and the rule that defines "worse"),
``pipeline`` the steps (TensorFlow loaded only when a retrain runs), ``commands`` the command line
and the JSON-lines protocol the app (``desktop/retrain.py``) reads. The bundle's versions themselves
live in ``seefood.versions`` (no TensorFlow), which the app and ``seefood bundle`` use.
"""
