"""Files that a script writes from the code and that are committed: write one, or with ``--check``
fail when the committed one is not exactly what the script writes."""

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def write_or_check(outputs, prog, argv=None):
    """Writes each ``{path: text}`` of ``outputs``; with ``--check`` in ``argv``, exits with an error
    instead if a file holds anything else. ``prog`` is the command that writes them, named in the
    help and the error."""
    outputs = {pathlib.Path(path): text for path, text in outputs.items()}
    names = ", ".join(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) for p in outputs)
    parser = argparse.ArgumentParser(prog=prog, description=f"Writes {names}.")
    parser.add_argument("--check", action="store_true", help=f"fail if the committed {names} is not up to date")
    args = parser.parse_args(argv)
    for path, text in outputs.items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                sys.exit(f"{path} is not what {prog} writes: run it")
            continue
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
