"""Read a training run folder (docs/design.md) for export and verification.

The run contract has one reader, ``training.run_io.load_run``; this module adds the checks export
needs before converting anything (the folder, run.json and model.keras are there and readable),
each failing with a ``UserError`` that names the file and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seefood.cli import UserError
from training.run_io import RunInfo as Run  # noqa: F401  (the name export and verify use)
from training.run_io import load_run as _load_run_info


def is_run_dir(path: Path | str) -> bool:
    path = Path(path)
    return (path / "run.json").is_file()


def load_fitted(path: str, image_size: int) -> np.ndarray:
    """A photo as the model's uint8 input: the shared crop + resize (seefood.preprocessing)."""
    from seefood.images import load_rgb
    from seefood.preprocessing import fit_to_input

    return fit_to_input(load_rgb(path), image_size)


def load_run(run_dir: Path | str) -> Run:
    """Read a run folder; raise UserError naming the file and the fix when it is incomplete."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder; train one with `seefood train`")
    if not is_run_dir(run_dir):
        raise UserError(f"{run_dir}: no run.json here; this is not a training run folder (see `seefood train`)")
    try:
        run = _load_run_info(run_dir)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{run_dir}: run.json or splits.json is not valid JSON ({error})") from error
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{run_dir / 'run.json'}: missing or invalid field {error} (train again with `seefood train`)") from error
    if not run.model_path.is_file():
        raise UserError(f"{run.model_path}: missing; the run has no trained model (train again with `seefood train`)")
    return run
