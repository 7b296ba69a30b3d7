"""Regenerate the committed reference measurements and the README's numbers: one command.

``python -m experiments.reference`` (about 25 minutes on two cores) regenerates, at a clean git
checkout, each of :data:`TARGETS`:

* ``results/reference/``: the Rosenbrock sweep, the chunk-size sweep and the ``tall`` Jacobian
  grid, their combined report, and ``python -m experiments.engine_speed`` in ``engine-speed.txt``;
* ``results/peers-reference/`` (when JAX, PyTorch and autograd are installed): ``rosenbrock-array``
  and ``mlp`` beside the peers, and their report.

Every run is made first, so each one's environment records a clean checkout; then the old run
folders are replaced, the reports written, and each target rewrites its README block (between
``<!-- reference:begin -->`` and ``<!-- reference:end -->``, likewise ``peers-reference``) with
the commands that ran and the report's own sentences and tables, so every number the README
quotes comes from the files beside it.

It refuses a checkout with uncommitted changes (the report's environment line must name the
commit that produced it); ``--allow-dirty`` overrides that for a trial run. Commit the outputs
afterwards: ``git add results README.md``. ``--dry-run`` prints the runs; ``--only`` picks a target.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    """One committed reference: its folder, its runs (``compare-modes`` arguments), the README
    block it fills and the report sections that block quotes (``## `` titles, or ``### `` titles
    within the runs' sections, matched by prefix)."""

    folder: Path
    runs: tuple[tuple[str, ...], ...]
    block: str
    quoted: tuple[str, ...]
    engine_speed: bool = False
    needs_peers: bool = False

    @property
    def markers(self) -> tuple[str, str]:
        return f"<!-- {self.block}:begin -->", f"<!-- {self.block}:end -->"


TARGETS = (
    Target(
        Path("results/reference"),
        (
            ("--inputs", "2,3,10,30,100,300,1000", "--budget", "30"),
            ("--inputs", "200", "--chunks", "1,2,4,8,12,25,50,100,200"),
            ("--problem", "tall", "--inputs", "2,8,32,128", "--outputs", "2,8,32,128"),
        ),
        "reference",
        ("At a glance", "What the article claims and what we measured"),
        engine_speed=True,
    ),
    Target(
        Path("results/peers-reference"),
        (
            ("--problem", "rosenbrock-array", "--inputs", "10,100,1000", "--peers", "autograd,torch,jax"),
            ("--problem", "mlp", "--inputs", "10,100,1000", "--peers", "autograd,torch,jax"),
        ),
        "peers-reference",
        ("Peers: reverse grad / f",),
        needs_peers=True,
    ),
)


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
    """Whether every peer library can be imported (the peers reference needs them all)."""
    from experiments.peers.registry import PEERS

    return all(p.installed() for p in PEERS.values())


def command(args: tuple[str, ...], out: Path) -> list[str]:
    return [sys.executable, "-m", "experiments.cli", *args, "--out", str(out), "-q"]


def shown(args: tuple[str, ...], folder: Path) -> str:
    return "compare-modes " + " ".join([*args, "--out", folder.as_posix()])


def run_folder(before: set[Path], out: Path) -> Path:
    """The run folder a ``compare-modes`` run just made in ``out``."""
    new = sorted(p for p in out.iterdir() if p.is_dir() and (p / "results.json").exists() and p not in before)
    if len(new) != 1:
        raise ReferenceRunError(f"expected one new run folder in {out}, found {len(new)}")
    return new[0]


def clear(out: Path, keep: list[Path]) -> None:
    """Remove the previous reference runs and report (only what a reference run writes), but not
    the run folders in ``keep`` (this regeneration's)."""
    for p in out.iterdir():
        if p in keep:
            continue
        if p.is_dir() and ((p / "results.json").exists() or p.name == "figures"):
            shutil.rmtree(p)
        elif p.name in ("report.md", "report.html", "engine-speed.txt"):
            p.unlink()


def sections(report_md: str, titles: tuple[str, ...]) -> str:
    """The report's ``## `` and ``### `` sections whose title starts with one of ``titles``, each
    up to the next heading of its level or above, every heading in it one level further down."""
    lines = report_md.splitlines()
    out = []
    parent = ""
    for i, line in enumerate(lines):
        m = re.match(r"(#{2,3}) (.*)", line)
        if m and len(m.group(1)) == 2:
            parent = m.group(2).strip()
        if not m or not m.group(2).strip().startswith(titles):
            continue
        stop = re.compile(rf"#{{1,{len(m.group(1))}}} ")
        j = i + 1
        while j < len(lines) and not stop.match(lines[j]):
            j += 1
        block = ["#" + t if t.startswith("#") else t for t in lines[i:j]]
        if len(m.group(1)) == 3:  # a subsection: say which section (which run) it belongs to
            block[0] += f" ({parent})"
        out.append("\n".join(block).rstrip())
    return "\n\n".join(out)


def readme_block(target: Target, commands: list[str], report_md: str, head: str) -> str:
    """A README block: the commands that ran and the report's quoted sections."""
    quoted = sections(report_md, target.quoted)
    # the report's own links are relative to its folder; the README sits at the root
    folder = target.folder.as_posix()
    quoted = re.sub(r"\]\((?!https?:|/|#)([^)]+)\)", lambda m: f"]({folder}/{m.group(1)})", quoted)
    begin, end = target.markers
    shell = "\n".join(commands)
    return (
        f"{begin}\n"
        f"Measured at commit `{head}` by `python -m experiments.reference`, which ran:\n\n"
        f"```bash\n{shell}\n```\n\n"
        f"{quoted}\n"
        f"{end}"
    )


def replace_block(readme: str, target: Target, block: str) -> str:
    begin, end = target.markers
    if begin not in readme or end not in readme:
        raise ReferenceRunError(f"README.md has no {begin} ... {end} block to replace")
    start, stop = readme.index(begin), readme.index(end) + len(end)
    return readme[:start] + block + readme[stop:]


def measure(target: Target) -> tuple[list[Path], list[str]]:
    """Run one target's runs into new run folders; nothing tracked by git is touched yet, so every
    run's environment records a clean checkout. Returns the folders and the commands shown."""
    out = ROOT / target.folder
    out.mkdir(parents=True, exist_ok=True)
    folders, commands = [], []
    for args in target.runs:
        text = shown(args, target.folder)
        print(f"running: {text}", file=sys.stderr, flush=True)
        before = {p for p in out.iterdir() if p.is_dir()}
        done = subprocess.run(command(args, out), cwd=ROOT)
        if done.returncode != 0:
            raise ReferenceRunError(f"{text} exited with {done.returncode}; the README was not changed")
        folders.append(run_folder(before, out))
        commands.append(text)
    return folders, commands


def publish(target: Target, folders: list[Path], commands: list[str], head: str) -> str:
    """Replace the old runs by the new, write the report (and engine speed); return the README block."""
    out = ROOT / target.folder
    clear(out, folders)
    report_cmd = [sys.executable, "-m", "experiments.cli", "report", *map(str, folders)]
    if subprocess.run([*report_cmd, "--out", str(out)], cwd=ROOT).returncode != 0:
        raise ReferenceRunError("the combined report failed; the README was not changed")
    runs = " ".join(f.relative_to(ROOT).as_posix() for f in folders)
    commands = [*commands, f"compare-modes report {runs} --out {target.folder.as_posix()}"]
    if target.engine_speed:
        print("running: python -m experiments.engine_speed", file=sys.stderr, flush=True)
        speed = subprocess.run(
            [sys.executable, "-m", "experiments.engine_speed"], cwd=ROOT, capture_output=True, text=True
        )
        (out / "engine-speed.txt").write_text(speed.stdout)
        commands.append(f"python -m experiments.engine_speed > {target.folder.as_posix()}/engine-speed.txt")
    return readme_block(target, commands, (out / "report.md").read_text(), head)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.reference", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--allow-dirty", action="store_true", help="measure a checkout with uncommitted changes"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument(
        "--only", choices=[t.block for t in TARGETS], help="regenerate one reference, not every one"
    )
    args = parser.parse_args(argv)
    targets = [t for t in TARGETS if args.only in (None, t.block)]
    if any(t.needs_peers for t in targets) and not peers_installed():
        skipped = [t.folder.as_posix() for t in targets if t.needs_peers]
        print(f'skipping {", ".join(skipped)}: pip install "compare-modes[peers]" first', file=sys.stderr)
        targets = [t for t in targets if not t.needs_peers]
    if args.dry_run:
        for t in targets:
            print("\n".join(shown(a, t.folder) for a in t.runs))
        return 0
    try:
        head = require_clean() if not args.allow_dirty else _git("rev-parse", "--short=12", "HEAD").strip()
        readme_path = ROOT / "README.md"
        readme = readme_path.read_text()
        for t in targets:
            replace_block(readme, t, "")  # every block exists before anything runs
        measured = [(t, *measure(t)) for t in targets]  # every run first, at a clean checkout
        for t, folders, commands in measured:
            readme = replace_block(readme, t, publish(t, folders, commands, head))
        readme_path.write_text(readme)
    except ReferenceRunError as e:
        print(f"experiments.reference: {e}", file=sys.stderr)
        return 2
    print(
        "done: commit " + " ".join(t.folder.as_posix() for t in targets) + " and README.md", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
