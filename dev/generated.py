"""Files that a script writes from the code and that are committed: write one, or with ``--check``
fail when the committed one is not exactly what the script writes."""

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def write_or_check(path, text, prog, argv=None):
    """Writes ``text`` to ``path``; with ``--check`` in ``argv``, exits with an error instead if the file
    holds anything else. ``prog`` is the command that writes it, named in the help and the error."""
    path = pathlib.Path(path)
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    parser = argparse.ArgumentParser(prog=prog, description=f"Writes {name}.")
    parser.add_argument("--check", action="store_true", help=f"fail if the committed {name} is not up to date")
    args = parser.parse_args(argv)
    if args.check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            sys.exit(f"{path} is not what {prog} writes: run it")
        return
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
