"""Regression datasets: recorded runs saved as test cases, replayed offline.

A dataset is one reviewable JSON file in the repository (``agentreel-datasets/NAME.json``
by default) holding, for each case, what a replay needs: the run's entry point and
arguments, every recorded LLM and tool step with its request and result, and how the
run ended. Secrets are masked before the file is written.

A case passes when its replay behaves as the recording did:

- a case from an **ok** run must reproduce: the same requests to the model and tools,
  and the same output (or, when the case has evaluators, an output that scores at least
  what the recorded one scored);
- a case from a **failed** run guards a fix: it fails while the replay still ends in
  the recorded error, and passes once the agent gets past it (it returns, or asks for
  something after the last recorded step, which only a changed agent does).

Example::

    from agentreel import datasets

    datasets.add("regressions", ["4623a6bd"])          # from the store in .agentreel
    for case in datasets.load("regressions").cases:
        result = datasets.run_case(case)
        assert result.passed, result.message

``pytest --agentreel-dataset regressions`` runs each case as a test item; see
docs/datasets.md.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentreel._errors import AgentreelError

__all__ = [
    "DEFAULT_DIR",
    "FORMAT",
    "Case",
    "CaseResult",
    "Dataset",
    "DatasetError",
    "add",
    "datasets_dir",
    "load",
    "remove",
    "run_case",
]

#: Where dataset files live, relative to the working directory, unless
#: ``AGENTREEL_DATASETS`` or ``--datasets`` says otherwise.
DEFAULT_DIR = "agentreel-datasets"
#: The version of the file format this module writes and reads.
FORMAT = 1


class DatasetError(AgentreelError):
    """A dataset file or name that cannot be used; the message says why."""


def datasets_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """The dataset directory: `directory`, else ``$AGENTREEL_DATASETS``, else `DEFAULT_DIR`."""
    return Path(directory or os.environ.get("AGENTREEL_DATASETS") or DEFAULT_DIR)


def _check_name(name: str) -> str:
    ok = name and all(c.isalnum() or c in "-_." for c in name) and not name.startswith(".")
    if not ok:
        raise DatasetError(
            f"dataset name {name!r} must be letters, digits, '-', '_' or '.', "
            "and not start with '.'"
        )
    return name


@dataclass
class Case:
    """One recorded run saved in a dataset."""

    run_id: str
    run_name: str | None
    status: str
    recorded_at: str | None
    plan: dict[str, Any]
    evaluators: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The case's name in test reports: the run id's first 12 characters."""
        return self.run_id[:12]

    @property
    def expects_fix(self) -> bool:
        """True for a case from a failed run: it passes once the failure is gone."""
        return self.status != "ok"


@dataclass
class Dataset:
    """A named list of cases, read from or written to one file."""

    name: str
    path: Path
    cases: list[Case] = field(default_factory=list)

    def case(self, run_id: str) -> Case:
        """The case whose run id starts with `run_id`."""
        found = [c for c in self.cases if c.run_id.startswith(run_id)]
        if len(found) != 1:
            what = "no case" if not found else f"{len(found)} cases"
            raise DatasetError(f"dataset {self.name!r} has {what} whose run id starts {run_id!r}")
        return found[0]

    def save(self) -> None:
        """Write the file (sorted keys, indented, one case per run id), atomically."""
        doc = {
            "agentreel_dataset": FORMAT,
            "name": self.name,
            "cases": [_case_doc(c) for c in sorted(self.cases, key=lambda c: c.run_id)],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# -- the file: JSON strings of the plan are stored parsed, so that a review reads them


def _parsed(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        return {"json": json.loads(text)}
    except ValueError:
        return {"text": text}


def _unparsed(doc: dict[str, Any] | None, *, pretty: bool = False) -> str | None:
    if not doc:
        return None
    if "text" in doc:
        return str(doc["text"])
    if pretty:
        return json.dumps(doc["json"], indent=2, sort_keys=True)
    return json.dumps(doc["json"], separators=(",", ":"), ensure_ascii=False)


def _case_doc(c: Case) -> dict[str, Any]:
    plan = dict(c.plan)
    steps = []
    for s in plan.pop("steps"):
        s = dict(s)
        s["request"] = _parsed(s.get("request"))
        s["output"] = _parsed(s.get("output"))
        steps.append(s)
    plan["output"] = _parsed(plan.get("output"))
    plan["steps"] = steps
    return {
        "run_id": c.run_id,
        "run_name": c.run_name,
        "status": c.status,
        "recorded_at": c.recorded_at,
        "evaluators": c.evaluators,
        "plan": plan,
    }


def _case_from(doc: dict[str, Any], where: str) -> Case:
    try:
        plan = dict(doc["plan"])
        steps = []
        for s in plan.pop("steps"):
            s = dict(s)
            s["request"] = _unparsed(s.get("request"), pretty=True)
            s["output"] = _unparsed(s.get("output"))
            steps.append(s)
        plan["output"] = _unparsed(plan.get("output"))
        plan["steps"] = steps
        for key in ("run_id", "entry", "arguments"):
            if key not in plan:
                raise KeyError(key)
        return Case(
            run_id=str(doc["run_id"]),
            run_name=doc.get("run_name"),
            status=str(doc["status"]),
            recorded_at=doc.get("recorded_at"),
            plan=plan,
            evaluators=list(doc.get("evaluators") or []),
        )
    except (KeyError, TypeError, AttributeError) as e:
        raise DatasetError(f"{where}: a case is missing or has a malformed field ({e})") from None


def load(name: str, directory: str | os.PathLike[str] | None = None) -> Dataset:
    """The dataset `name` (its file ``NAME.json`` in the dataset directory)."""
    path = datasets_dir(directory) / f"{_check_name(name)}.json"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.json")) if path.parent.is_dir() else []
        hint = f"; the datasets in {path.parent} are: {', '.join(known)}" if known else ""
        raise DatasetError(f"no dataset {name!r}: {path} does not exist{hint}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path} is not a readable dataset file: {e}") from None
    if not isinstance(doc, dict) or doc.get("agentreel_dataset") != FORMAT:
        raise DatasetError(
            f"{path} is not an agentreel dataset of format {FORMAT} "
            '(its top level must have "agentreel_dataset": 1)'
        )
    cases = doc.get("cases")
    if not isinstance(cases, list):
        raise DatasetError(f'{path}: "cases" must be a list')
    return Dataset(name, path, [_case_from(c, str(path)) for c in cases])


def _empty(name: str, directory: str | os.PathLike[str] | None) -> Dataset:
    return Dataset(name, datasets_dir(directory) / f"{_check_name(name)}.json")


# -- adding runs


def _evaluator(ref: str) -> Callable[..., Any]:
    module, _, attr = ref.partition(":")
    if not module or not attr:
        raise DatasetError(f"evaluator {ref!r} must be written module:function")
    try:
        fn = importlib.import_module(module)
        for part in attr.split("."):
            fn = getattr(fn, part)
    except (ImportError, AttributeError) as e:
        raise DatasetError(f"cannot import evaluator {ref!r}: {e}") from None
    if not callable(fn):
        raise DatasetError(f"evaluator {ref!r} is not a function")
    return fn


def score(ref: str, output: str | None, arguments: dict[str, Any]) -> float:
    """What evaluator `ref` (``module:function``) gives an entry point's output.

    The function is called as ``fn(output, arguments)``, `output` being the value the
    entry point returned (as JSON data; None when it raised), and returns a number
    (a bool counts 1 or 0).
    """
    value = json.loads(output) if output is not None else None
    try:
        got = _evaluator(ref)(value, arguments)
    except DatasetError:
        raise
    except Exception as e:
        raise DatasetError(f"evaluator {ref} failed: {type(e).__name__}: {e}") from None
    if isinstance(got, bool):
        return 1.0 if got else 0.0
    if isinstance(got, int | float):
        return float(got)
    raise DatasetError(f"evaluator {ref} returned {type(got).__name__}, not a number")


def _redacted(plan: dict[str, Any]) -> dict[str, Any]:
    from agentreel._redact import redact_value, redactor_from

    redact = redactor_from(True)
    assert redact is not None

    def text(v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return json.dumps(redact_value(json.loads(v), redact), ensure_ascii=False)
        except ValueError:
            return redact(v)

    out = dict(plan)
    out["arguments"] = redact_value(plan.get("arguments") or {}, redact)
    out["output"] = text(plan.get("output"))
    out["error_message"] = text(plan.get("error_message")) if plan.get("error_message") else None
    env = dict(plan.get("env") or {})
    env.pop("cwd", None)  # where it was recorded: a path of one machine, not of the repository
    out["env"] = env
    if out.get("entry_file"):
        out["entry_file"] = _relative(str(out["entry_file"]))
    steps = []
    for s in plan.get("steps") or []:
        s = dict(s)
        if s.get("request") is not None:
            req = json.loads(s["request"])
            s["request"] = json.dumps(redact_value(req, redact), indent=2, sort_keys=True)
        s["output"] = text(s.get("output"))
        if s.get("error_message"):
            s["error_message"] = redact(s["error_message"])
        steps.append(s)
    out["steps"] = steps
    return out


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def add(
    name: str,
    run_ids: Iterable[str] = (),
    *,
    query: str | None = None,
    store_dir: str | os.PathLike[str] = ".agentreel",
    directory: str | os.PathLike[str] | None = None,
    evaluators: Sequence[str] = (),
) -> tuple[Dataset, list[str]]:
    """Save recorded runs as cases of dataset `name` (created if new).

    Runs are given by id (a unique prefix) and/or by a filter `query` (the ``-q``
    language). A run already in the dataset is replaced by its current recording.
    Each `evaluators` entry (``module:function``) scores the recorded output now; a
    replay must later score at least as much. Raises `NotReplayable` (naming every
    reason) for a run that cannot be replayed; nothing is written then.

    Returns the dataset and the run ids added.
    """
    from agentreel.replay import build_plan
    from agentreel.store import Store

    ids = list(run_ids)
    if not ids and not query:
        raise DatasetError("name at least one run, or give a filter (-q) that selects runs")
    dataset = _dataset_or_new(name, directory)
    new: list[Case] = []
    with Store.open(Path(store_dir), wait=5.0) as store:
        store.ingest()
        full = [store.resolve_run(r) for r in ids]
        if query:
            full += store.runs(query=query)["run_id"].to_list()
        if not full:
            raise DatasetError(f"the filter {query!r} selects no run")
        for rid in dict.fromkeys(full):
            row = store.run(rid)
            plan = _redacted(build_plan(store, rid))
            started = row.get("start_time")
            new.append(
                Case(
                    run_id=rid,
                    run_name=row.get("name"),
                    status=str(row.get("status")),
                    recorded_at=started.isoformat() if started is not None else None,
                    plan=plan,
                    evaluators=[
                        {"evaluator": ref, "score": score(ref, plan["output"], plan["arguments"])}
                        for ref in evaluators
                    ],
                )
            )
    added = {c.run_id for c in new}
    dataset.cases = [c for c in dataset.cases if c.run_id not in added] + new
    dataset.save()
    return dataset, [c.run_id for c in new]


def _dataset_or_new(name: str, directory: str | os.PathLike[str] | None) -> Dataset:
    path = datasets_dir(directory) / f"{_check_name(name)}.json"
    return load(name, directory) if path.exists() else _empty(name, directory)


def remove(
    name: str, run_ids: Iterable[str], directory: str | os.PathLike[str] | None = None
) -> Dataset:
    """Take the cases of `run_ids` (unique prefixes) out of dataset `name`."""
    dataset = load(name, directory)
    gone = {dataset.case(r).run_id for r in run_ids}
    dataset.cases = [c for c in dataset.cases if c.run_id not in gone]
    dataset.save()
    return dataset


# -- running a case


@dataclass
class CaseResult:
    """What one case's replay did, and whether the case passes."""

    case: Case
    passed: bool
    message: str
    diff: str = ""
    replay: Any = None  # the agentreel.replay.ReplayResult
    scores: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The result as ``agentreel dataset run --json`` gives it."""
        return {
            "run_id": self.case.run_id,
            "passed": self.passed,
            "message": self.message,
            "diff": self.diff,
            "scores": self.scores,
            "replay_run_id": getattr(self.replay, "replay_run_id", None),
        }


#: Scores may fall this much below the recorded one before a case fails.
SCORE_TOLERANCE = 1e-9


def run_case(
    case: Case,
    store_dir: str | os.PathLike[str] | None = None,
    *,
    timeout: float = 600.0,
) -> CaseResult:
    """Replay `case` offline (network blocked) and judge it.

    The replay is recorded into `store_dir` (a temporary store when None, so that a
    test run leaves nothing behind).
    """
    from agentreel.replay import run_plan

    plan = {
        **case.plan,
        "on_divergence": "stop",
        "network": False,
        "name": f"replay of {case.run_name or 'run'}",
        "tags": {"replay_of": case.run_id, "dataset_case": case.id},
    }
    with tempfile.TemporaryDirectory(prefix="agentreel-case-") as tmp:
        where = Path(store_dir) if store_dir is not None else Path(tmp)
        result = run_plan(plan, where, timeout=timeout)
    return _judge(case, result)


def _judge(case: Case, r: Any) -> CaseResult:
    def done(passed: bool, message: str, diff: str = "", scores: Any = ()) -> CaseResult:
        return CaseResult(case, passed, message, diff, r, list(scores))

    d = r.divergence
    if r.outcome in ("failed", "stopped"):
        return done(False, f"the replay could not finish: {r.reason}")
    if case.expects_fix:
        recorded = f"{case.plan.get('error_type')}: {case.plan.get('error_message') or ''}"
        if r.outcome == "raised" and r.output_matches:
            return done(False, f"still fails as recorded: {recorded}")
        if d is not None and d["what"] == "changed":
            return done(
                False, f"asks for something else before the failure: {d['message']}", d["diff"]
            )
        if r.outcome == "raised":
            return done(False, f"fails differently: {r.error} (recorded: {recorded})")
        if d is not None and d["what"] == "new" and r.served < r.steps:
            return done(
                False, f"asks for something new before the failure: {d['message']}", d["diff"]
            )
        if r.outcome == "diverged":
            return done(True, "gets past the recorded failure (asks for what comes next)")
        return done(True, "returns where the recording failed")
    if d is not None:
        return done(False, f"diverged: {d['message']}", d["diff"])
    if r.outcome == "raised" and not case.plan.get("error_type"):
        return done(False, f"raises {r.error}; the recording returned")
    if r.output_matches:
        return done(True, "reproduces")
    if not case.evaluators:
        return done(False, "returns a different output", _output_diff(r.recorded_output, r.output))
    scores = []
    for ev in case.evaluators:
        now = score(ev["evaluator"], r.output, case.plan.get("arguments") or {})
        scores.append({"evaluator": ev["evaluator"], "recorded": ev["score"], "replayed": now})
    worse = [s for s in scores if s["replayed"] < s["recorded"] - SCORE_TOLERANCE]
    if worse:
        s = worse[0]
        return done(
            False,
            f"evaluator {s['evaluator']} scores the new output {s['replayed']:g}, "
            f"below the recorded {s['recorded']:g}",
            _output_diff(r.recorded_output, r.output),
            scores,
        )
    return done(True, "returns a different output that scores as well", "", scores)


def _output_diff(a: str | None, b: str | None) -> str:
    import difflib

    def lines(text: str | None) -> list[str]:
        if text is None:
            return []
        try:
            return json.dumps(json.loads(text), indent=2, sort_keys=True).splitlines()
        except ValueError:
            return text.splitlines()

    return "\n".join(
        difflib.unified_diff(lines(a), lines(b), "recorded", "replayed", lineterm="", n=2)
    )
