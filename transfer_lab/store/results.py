"""The results record of one job: what `results.json` holds, typed, for the job that writes it
and the report that reads it. Torch-free, so `report` starts fast."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transfer_lab.store.atomic import write_json_atomically

RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class Axis:
    """A study axis: a design value the report shows as a column of its own, declared here once;
    report/collect.py, report/summary.py and train/tensorboard.py derive their columns from it.

    `key` is the config key a sweep sets (None: derived from others, as the family is);
    `column` the report's column and, when `recorded`, the `JobResults` field that holds what
    the job really ran with (else the value is read back from the job's saved config at `key`,
    and TensorBoard names it by its key); `short` its name in a configuration's words (β=0.4) and `title` its table
    header (both default to the column);
    `arm` whether the arm's label says it; `copied` whether it only means something when a
    network is copied from a trained source (blank for scratch and for a source trained on B);
    `of_source` whether a sweep's source job has it (its TensorBoard session shows it);
    `replicate` whether a configuration is averaged over it rather than defined by it.
    """

    key: str | None
    column: str
    short: str = ""
    title: str = ""
    recorded: bool = True
    arm: bool = False
    copied: bool = False
    of_source: bool = False
    replicate: bool = False

    @property
    def name(self) -> str:
        return self.short or self.column

    @property
    def header(self) -> str:
        return self.title or self.name


AXES: tuple[Axis, ...] = (
    Axis("transfer.arm", "label", title="network", arm=True),  # the label first: it names the arm
    Axis("transfer.treatment", "treatment", arm=True),
    Axis(None, "family", arm=True),
    Axis("transfer.depth", "depth", "n", arm=True),
    Axis("transfer.freeze", "freeze", title="frozen", arm=True),
    Axis("model.beta", "beta", "β", copied=True, of_source=True),
    Axis("model.binary_heads", "binary_heads", "K", copied=True, of_source=True),
    Axis("transfer.lr_scale", "lr_scale", "lr scale", copied=True),
    Axis("data.fraction", "fraction", title="B fraction", recorded=False, of_source=True),
    Axis("data.per_class", "per_class", "per class", "B per class", recorded=False, of_source=True),
    Axis("data.split_seed", "split_seed", of_source=True, replicate=True),
    Axis("seed", "seed", of_source=True, replicate=True),
)


def configured(config: dict[str, Any] | None, key: str, default: Any = None) -> Any:
    """The value at a dotted key of a job's saved config (`default` when it has none)."""
    value: Any = config or {}
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


@dataclass
class PhaseResults:
    """One training phase (source or target): how it went and what it selected.

    `trained` and `cache_key` describe a network kept in the source cache: a source, or the
    target of a baseB job (BnB jobs are cut from it: their `source.cache_key` is its key);
    trained now or reused from the cache.
    `measures` are the source's transferability measures on B, one value per stage
    ({measure: [value after stage 1, …]}); `output_measures` those of its output layer (LEEP,
    NCE); `cka` the linear CKA per stage with another network ({"baseB": […]} for a source,
    {"source": […]} for a target that copied one).
    `test_acc`/`test_loss` test the selected weights once (our statistic); `test_history`
    ({"epoch": […], "acc": […], "loss": […]}, 1-based epochs) tests the network as it was at the
    end of each epoch the paper's statistic needs; selection never reads them.
    `select` says which weights were kept: best (on `monitor`) or last (the final epoch).
    `history` holds each epoch's training and validation loss and accuracy
    ({"epoch": […], "train_loss": […], "train_acc": […], "val_loss": […], "val_acc": […]}), so
    the curves can be read; `convergence` says whether the phase had finished learning when it
    stopped (train/convergence.py); `epoch_cap` is the most epochs it was allowed and
    `cpu_seconds` the processor time its fit took.
    """

    trained: bool = False
    cache_key: str | None = None
    checkpoint_sha256: str | None = None
    val_acc: float | None = None
    test_acc: float | None = None
    test_loss: float | None = None
    epochs: int | None = None
    seconds: float | None = None
    monitor: str | None = None  # the validation metric that selected the checkpoint
    monitor_value: float | None = None  # its value at the selected epoch
    select: str | None = None  # best | last: which epoch's weights were kept
    lr_history: dict[str, list[float]] = field(default_factory=dict)  # group → rate per epoch
    test_history: dict[str, list] | None = None  # per-epoch tests for the paper's statistic
    measures: dict[str, list[float]] | None = None
    output_measures: dict[str, float] | None = None
    cka: dict[str, list[float]] | None = None
    origin: str | None = None  # a pretrained source: where its weights came from (else trained)
    epoch_cap: int | None = None
    cpu_seconds: float | None = None
    history: dict[str, list] | None = None  # per-epoch train/val loss and accuracy
    convergence: dict[str, Any] | None = None  # finished learning, or still improving

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> PhaseResults:
        return _from_json(cls, data or {})

    def metrics(self) -> dict[str, Any]:
        """How the training went: every field but where the network is kept (the cache stores
        these beside the network, so a job that reuses it reports the same)."""
        data = dataclasses.asdict(self)
        for key in ("trained", "cache_key", "checkpoint_sha256"):
            data.pop(key)
        return data


@dataclass
class JobResults:
    """Everything one job records; `status` is "ok", "failed" (with `reason`) or "running".

    `cpu_seconds` is the processor time the job took (its process and any it waited for),
    `provenance` where and with what it ran (commit, versions, threads, precision, host, start
    and end times): the report sums and names them so a sweep can be recomputed.
    """

    status: str
    reason: str | None = None
    experiment: str | None = None
    dataset: str | None = None
    data_files: list[str] = field(default_factory=list)  # the files read, with their sizes
    split_seed: int | None = None
    seed: int | None = None
    treatment: str | None = None
    label: str | None = None  # the papers' name of the arm: baseB, A3B+, …
    family: str | None = None  # the label without its depth: baseB, AnB+, …
    depth: int | None = None
    stages: list[str] = field(default_factory=list)
    freeze: bool | None = None  # any stage frozen
    freeze_depth: int | None = None  # stages 1..n frozen (n ≤ depth)
    lr_scale: float | None = None
    beta: float | None = None
    binary_heads: int | None = None
    source_classes: list[int] = field(default_factory=list)
    target_classes: list[int] = field(default_factory=list)
    binary_partitions: list[list[int]] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    code_sha256: str | None = None  # the package's source files: which code produced this
    config: dict[str, Any] = field(default_factory=dict)
    source: PhaseResults = field(default_factory=PhaseResults)
    target: PhaseResults | None = None
    seconds: float | None = None
    cpu_seconds: float | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def has_source(self) -> bool:
        """Whether a trained source network was copied (not for scratch or random-frozen)."""
        return bool(self.source.cache_key)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.reason is None:
            data.pop("reason")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobResults:
        record = _from_json(cls, data)
        record.source = PhaseResults.from_json(data.get("source"))
        if data.get("target") is not None:
            record.target = PhaseResults.from_json(data["target"])
        return record

    def write(self, job_dir: Path) -> Path:
        """Write `results.json` into the job folder atomically: whole or absent."""
        path = Path(job_dir) / RESULTS_FILE
        write_json_atomically(path, self.to_json())
        return path

    @classmethod
    def read(cls, job_dir: Path) -> JobResults:
        """The job's record; raises OSError or ValueError when it is missing, unreadable, or
        holds a value of the wrong type (a number as a string, a list for a number)."""
        data = json.loads((Path(job_dir) / RESULTS_FILE).read_text())
        if not isinstance(data, dict):
            raise ValueError(f"it holds a {type(data).__name__}, not a record")
        check_types(cls, data)
        check_ranges(data, JOB_RANGES)
        for phase in ("source", "target"):
            if isinstance(data.get(phase), dict):
                check_types(PhaseResults, data[phase], f"{phase}.")
                check_ranges(data[phase], PHASE_RANGES, f"{phase}.")
                history = data[phase].get("test_history")
                tested = history.get("acc") if isinstance(history, dict) else None
                for value in tested if isinstance(tested, list) else []:
                    check_range(value, ACCURACY, f"{phase}.test_history.acc")
        return cls.from_json(data)


# The range of each number a record holds (low, high), inclusive; NaN and infinities are never in
# range. A record outside them (a hand edit, a planted file, a broken job) is not trusted: the
# report lists it as unreadable, with the reason, and averages nothing of it.
ACCURACY = (0.0, 1.0)
COUNT = (0, math.inf)
PHASE_RANGES = {
    "val_acc": ACCURACY,
    "test_acc": ACCURACY,
    "test_loss": COUNT,
    "epochs": COUNT,
    "seconds": COUNT,
}  # not monitor_value: a phase whose every validation was NaN records an infinite one
JOB_RANGES = {"seconds": COUNT, "depth": COUNT, "split_seed": COUNT, "seed": COUNT}


def check_range(value: Any, span: tuple[float, float], name: str) -> None:
    """Raise ValueError when a number is NaN, infinite or outside `span`."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return  # its type is check_types' business
    low, high = span
    if not (math.isfinite(value) and low <= value <= high):
        where = f"in [{low:g}, {high:g}]" if math.isfinite(high) else f"≥ {low:g}"
        raise ValueError(f"{name} is {value!r}, not {where}")


def check_ranges(data: dict[str, Any], ranges: dict[str, tuple], prefix: str = "") -> None:
    for name, span in ranges.items():
        check_range(data.get(name), span, f"{prefix}{name}")


def fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value has a field's type: numbers are numbers (not booleans or strings),
    lists and dicts are lists and dicts (their items are not looked into)."""
    origin = typing.get_origin(hint) or hint
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, option) for option in typing.get_args(hint))
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint in (int, float):
        number = int if hint is int else int | float
        return isinstance(value, number) and not isinstance(value, bool)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, dict)
    return isinstance(value, origin)


def check_types(cls: type, data: dict[str, Any], prefix: str = "") -> None:
    """Raise ValueError naming the first field of `data` whose value does not fit `cls`'s type."""
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        if name in hints and not fits(value, hints[name]):
            raise ValueError(
                f"{prefix}{name} is {json.dumps(value)[:40]} ({type(value).__name__}), "
                f"not {_type_words(hints[name])}"
            )


def _type_words(hint: Any) -> str:
    words = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}
    options = [h for h in typing.get_args(hint) if h is not type(None)] or [hint]
    origin = typing.get_origin(options[0]) or options[0]
    return words.get(origin, f"a {getattr(origin, '__name__', origin)}")


def _from_json(cls: type, data: dict[str, Any]) -> Any:
    """A dataclass from a JSON dict, ignoring keys it does not know (older or newer records)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
