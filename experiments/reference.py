"""Regenerate the committed reference measurements and the README's numbers: one command.

``python -m experiments.reference`` (about 10 minutes on two cores) runs, at a clean git checkout:

1. the reference runs of ``compare-modes`` into ``results/reference/`` (the old run folders there
   are replaced): the Rosenbrock sweep, the chunk-size sweep, the ``tall`` Jacobian grid and,
   when peer libraries are installed, the array problems beside JAX, PyTorch and autograd;
2. the combined report of those runs (``results/reference/report.md`` and ``report.html``);
3. ``python -m experiments.engine_speed`` into ``results/reference/engine-speed.txt``;
4. the README's reference block (between ``<!-- reference:begin -->`` and
   ``<!-- reference:end -->``): the commands that ran and the report's own summary sentences, so
   every number the README quotes comes from the files beside it.

It refuses a checkout with uncommitted changes (the report's environment line must name the
commit that produced it); ``--allow-dirty`` overrides that for a trial run. Commit the outputs
afterwards: ``git add results/reference README.md``. ``--dry-run`` prints the commands only.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = Path("results/reference")
BEGIN, END = "<!-- reference:begin -->", "<!-- reference:end -->"

#: The reference runs: the arguments of ``compare-modes`` after the program name.
RUNS: list[list[str]] = [
    ["--inputs", "2,3,10,30,100,300,1000", "--budget", "30"],
    ["--inputs", "200", "--chunks", "1,2,4,8,12,25,50,100,200"],
    ["--problem", "tall", "--inputs", "2,8,32,128", "--outputs", "2,8,32,128"],
]
#: Run only when a peer library is installed (``pip install "compare-modes[peers]"``).
PEER_RUNS: list[list[str]] = [
    ["--problem", "rosenbrock-array", "--inputs", "10,100,1000", "--peers", "all"],
    ["--problem", "mlp", "--inputs", "10,100,1000", "--peers", "all"],
]
#: Sections of the generated report the README quotes verbatim.
QUOTED = ("At a glance", "What the article claims and what we measured")


class ReferenceRunError(Exception):
    """The reference cannot be regenerated here (say why, exit 2)."""


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def require_clean() -> str:
    """The commit the measurements will name; refuses uncommitted changes to tracked files."""
    try:
        dirty = _git("status", "--porcelain", "--untracked-files=no").strip()
        head = _git("rev-parse", "--short=12", "HEAD").strip()
    except (OSError, subprocess.CalledProcessError) as e:
        raise ReferenceRunError(f"not a git checkout ({e}); use --allow-dirty for a trial run") from None
    if dirty:
        first = dirty.splitlines()[0]
        raise ReferenceRunError(
            f"uncommitted changes ({first} ...): commit them first, so the report names the commit "
            "that measured it (or --allow-dirty for a trial run)"
        )
    return head


def peers_installed() -> bool:
    """Whether any peer library can be imported (then the peer runs are part of the reference)."""
    from experiments.peers.registry import PEERS

    return any(p.installed() for p in PEERS.values())


def command(args: list[str], out: Path) -> list[str]:
    return [sys.executable, "-m", "experiments.cli", *args, "--out", str(out), "-q"]


def run_folder(before: set[Path], out: Path) -> Path:
    """The run folder a ``compare-modes`` run just made in ``out``."""
    new = sorted(p for p in out.iterdir() if p.is_dir() and (p / "results.json").exists() and p not in before)
    if len(new) != 1:
        raise ReferenceRunError(f"expected one new run folder in {out}, found {len(new)}")
    return new[0]


def clear(out: Path) -> None:
    """Remove the previous reference runs and report (only what a reference run writes)."""
    if not out.exists():
        out.mkdir(parents=True)
        return
    for p in out.iterdir():
        if p.is_dir() and ((p / "results.json").exists() or p.name == "figures"):
            shutil.rmtree(p)
        elif p.name in ("report.md", "report.html", "engine-speed.txt"):
            p.unlink()


def sections(report_md: str, titles: tuple[str, ...]) -> str:
    """The named ``## `` sections of a Markdown report, in order, headings one level down."""
    parts = re.split(r"^## ", report_md, flags=re.M)
    keep = []
    for part in parts[1:]:
        title = part.splitlines()[0].strip()
        if title in titles:
            keep.append("### " + part.rstrip())
    return "\n\n".join(keep)


def readme_block(commands: list[str], report_md: str, head: str) -> str:
    """The README's reference block: the commands that ran and the report's summary sections."""
    quoted = sections(report_md, QUOTED)
    # the report's own links are relative to results/reference; the README sits at the root
    quoted = re.sub(r"\]\((?!https?:|/|#)([^)]+)\)", lambda m: f"]({OUT.as_posix()}/{m.group(1)})", quoted)
    shell = "\n".join(commands)
    return (
        f"{BEGIN}\n"
        f"Measured at commit `{head}` by `python -m experiments.reference`, which ran:\n\n"
        f"```bash\n{shell}\n```\n\n"
        f"{quoted}\n"
        f"{END}"
    )


def replace_block(readme: str, block: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise ReferenceRunError(f"README.md has no {BEGIN} ... {END} block to replace")
    start, stop = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + block + readme[stop:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.reference", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--allow-dirty", action="store_true", help="measure a checkout with uncommitted changes"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--no-engine-speed", action="store_true", help="skip experiments.engine_speed")
    args = parser.parse_args(argv)
    runs = RUNS + (PEER_RUNS if peers_installed() else [])
    shown = ["compare-modes " + " ".join([*r, "--out", OUT.as_posix()]) for r in runs]
    if args.dry_run:
        print("\n".join(shown))
        return 0
    try:
        head = require_clean() if not args.allow_dirty else _git("rev-parse", "--short=12", "HEAD").strip()
        out = ROOT / OUT
        clear(out)
        folders = []
        for r, text in zip(runs, shown):
            print(f"running: {text}", file=sys.stderr, flush=True)
            before = {p for p in out.iterdir() if p.is_dir()}
            done = subprocess.run(command(r, out), cwd=ROOT)
            if done.returncode != 0:
                raise ReferenceRunError(
                    f"{text} exited with {done.returncode}; nothing of the README was changed"
                )
            folders.append(run_folder(before, out))
        report_cmd = [
            sys.executable,
            "-m",
            "experiments.cli",
            "report",
            *map(str, folders),
            "--out",
            str(out),
        ]
        if subprocess.run(report_cmd, cwd=ROOT).returncode != 0:
            raise ReferenceRunError("the combined report failed; nothing of the README was changed")
        shown.append(
            "compare-modes report "
            + " ".join(f.relative_to(ROOT).as_posix() for f in folders)
            + f" --out {OUT.as_posix()}"
        )
        if not args.no_engine_speed:
            print("running: python -m experiments.engine_speed", file=sys.stderr, flush=True)
            speed = subprocess.run(
                [sys.executable, "-m", "experiments.engine_speed"], cwd=ROOT, capture_output=True, text=True
            )
            (out / "engine-speed.txt").write_text(speed.stdout)
            shown.append(f"python -m experiments.engine_speed > {OUT.as_posix()}/engine-speed.txt")
        readme = ROOT / "README.md"
        block = readme_block(shown, (out / "report.md").read_text(), head)
        readme.write_text(replace_block(readme.read_text(), block))
    except ReferenceRunError as e:
        print(f"experiments.reference: {e}", file=sys.stderr)
        return 2
    print(f"done: commit {OUT.as_posix()}/ and README.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
