"""The one rule for class names, from the training folder to the bundle to the app's capture keys.

A class name is a folder name in the training data, a line of ``labels.txt`` and the folder the
app saves captures into, so it must survive all three unchanged on Windows, macOS and Linux:

- 1 to ``MAX_CLASS_NAME_CHARS`` characters; letters of any script are welcome ("crème brûlée", "寿司");
- no leading or trailing whitespace (``labels.txt`` readers strip it, so the label would no longer
  match the folder) and no trailing '.' (Windows drops it from folder names);
- no control characters or line/paragraph separators (they break the one-label-per-line file);
- no path separators or characters Windows forbids in file names (``/ \\ < > : " | ? *``);
- not '.', '..', not starting with '.' (a hidden folder, which SeeFood skips when training), and not
  a Windows device name (CON, NUL, COM1...).

``training.dataset`` calls ``check_class_name`` on every class folder, ``seefood.bundle`` on every
label it loads, and ``desktop.capture`` before saving a frame.
"""

from __future__ import annotations

import unicodedata

from seefood.errors import InputError, shorten

MAX_CLASS_NAME_CHARS = 100
FORBIDDEN_CHARACTERS = '/\\<>:"|?*'
WINDOWS_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
)


class ClassNameError(InputError):
    """A class name that cannot be used; the message says why and suggests a name that can."""


def suggest_class_name(name: str) -> str:
    """A usable name close to ``name`` (for the error message; never applied silently)."""
    cleaned = "".join("_" if ch in FORBIDDEN_CHARACTERS or _is_breaking(ch) else ch for ch in str(name))
    cleaned = cleaned.strip().strip(".").strip()[:MAX_CLASS_NAME_CHARS].strip()
    if not cleaned:
        return "my_class"
    stem, dot, rest = cleaned.partition(".")
    if stem.strip().lower() in WINDOWS_DEVICE_NAMES:
        cleaned = f"{stem}_food{dot}{rest}"
    return cleaned


def class_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a class name, or None when it can."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not text"
    if not name:
        return "is empty"
    if len(name) > MAX_CLASS_NAME_CHARS:
        return f"is {len(name)} characters long (at most {MAX_CLASS_NAME_CHARS})"
    if name in (".", ".."):
        return "is a special folder name"
    if name[0].isspace() or name[-1].isspace():
        return "starts or ends with whitespace"
    if name.startswith("."):
        return "starts with '.' (a hidden folder, which training skips)"
    if name.endswith("."):
        return "ends with '.' (Windows drops it from folder names)"
    breaking = [ch for ch in name if _is_breaking(ch)]
    if breaking:
        return f"contains the control or line-break character {breaking[0]!r}"
    forbidden = [ch for ch in name if ch in FORBIDDEN_CHARACTERS]
    if forbidden:
        return f"contains {forbidden[0]!r}, which cannot be part of a folder name on every system"
    if name.partition(".")[0].strip().lower() in WINDOWS_DEVICE_NAMES:
        return "is a reserved device name on Windows"
    return None


def check_class_name(name: object) -> None:
    """Raise ClassNameError (a ValueError) when ``name`` breaks the rule in the module docstring.

    The message quotes the name (cut to a readable length), says what is wrong and suggests a fix;
    callers prefix the file or folder it came from.
    """
    problem = class_name_problem(name)
    if problem is not None:
        raise ClassNameError(
            f"class name {shorten(name)} {problem}; rename it (for example to {suggest_class_name(str(name))!r})"
        )


def _is_breaking(ch: str) -> bool:
    """Control characters and the separators that ``str.splitlines`` would cut a label at."""
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp")
