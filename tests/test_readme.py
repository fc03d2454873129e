"""The README's commands work as typed: each command of its fenced bash blocks runs in a fresh
login shell after the README's own set-up (`source .venv/bin/activate`) and exits 0, unless the
allow-list below says why it cannot run here."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.conftest import REPO

# What is not run here, and why; every pattern must still match a command of the README.
SKIPPED = {
    r"^make install$|^source \.venv/bin/activate$": "the set-up: every command runs after it",
    r"^make (demo|test|test-fast|bench|fashion-\S+)$|\bsweep\b": "a whole study or the suite: "
    "minutes to days (tests/test_end_to_end.py runs sweeps)",
    r"^make fashion-data$": "installs a Debian package as root",
    r"launcher=slurm|^squeue|^tail -f|<date>": "needs a SLURM cluster or a sweep's folder",
    r"^transfer-lab report$": "reports the newest sweep, and the sweeps above are skipped",
    r"^make lint$": "ruff over the tree, a check of the code rather than a command to try",
    r"^make tensorboard$": "a server that runs until stopped",
    r"^make clean$": "removes the checkout's sweeps, runs and source cache",
    r"own_images": "the worked example: its first step trains a Fashion-MNIST source for "
    "minutes (tests/test_own_images_example.py runs its steps cut down)",
}


def readme_commands(text: str) -> list[str]:
    """The commands of every ```bash block, comments dropped, `\\` continuations joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(re.sub(r"\s+", " ", command))
    return commands


COMMANDS = readme_commands((REPO / "README.md").read_text())


def skip_reason(command: str) -> str | None:
    return next((why for pattern, why in SKIPPED.items() if re.search(pattern, command)), None)


RUN = [c for c in COMMANDS if skip_reason(c) is None]


def test_every_skip_names_a_command_and_the_entry_point_is_the_console_script():
    assert all(any(re.search(p, c) for c in COMMANDS) for p in SKIPPED), "a stale skip"
    assert {"transfer-lab list", "transfer-lab --help"} <= set(RUN)
    assert not [c for c in COMMANDS if c.startswith(("python ", "python3 "))]  # not on PATH


@pytest.mark.slow
@pytest.mark.parametrize("command", RUN)
def test_a_readme_command_runs_as_typed_in_a_fresh_shell(tmp_path, command):
    activate = REPO / ".venv" / "bin" / "activate"
    if not activate.is_file():
        pytest.skip("no .venv beside the README (make install makes it)")
    env = {
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        # the tree under test, also where the venv's editable install points at another checkout
        "PYTHONPATH": str(REPO),
        **{k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
    }
    done = subprocess.run(
        ["bash", "-lc", f"source {activate} && {command}"],
        cwd=tmp_path,  # outputs/ and .cache/ land here, not in the checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
