"""The machinery of the visible checks (``hw11_utils.checks``): how a check calls a student's function.

Every visible check is wrapped by :func:`visible_check`, which

* runs it under a **time limit** (:func:`time_limit`, ``CHECK_TIME_LIMIT_S``): a function that loops
  forever makes the check print ``FAIL: ... did not finish within 10 s`` instead of running into the
  notebook's cell timeout, so the rest of the cell (and the notebook) still runs;
* shows **warnings as printed notes** on standard output (:func:`warnings_as_notes`) and sends anything
  written to standard error to standard output: the autograder gives 0 to a test cell that writes to
  standard error, and a harmless ``UserWarning`` must not cost points;
* never raises: an unexpected exception is printed as ``FAIL`` with what was raised.

A check tests one TODO on its own. When the TODO calls *other* TODOs, the check swaps them for
**stand-ins** (:func:`with_stand_ins`): simple functions whose results the check can compute by hand
(a quadratic toy loss instead of ``inner_loss``, a different but fixed input encoding instead of
``rl2_inputs``, ...). They are not the solutions of those TODOs; they only make the checked function's
own logic visible, so a mistake in one TODO is reported by that TODO's check only.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import sys
import threading
import time
import traceback
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

#: seconds a visible check may take (the hand-computed cases take well under one second)
CHECK_TIME_LIMIT_S = 10.0


def _scaled(seconds: float) -> float:
    """``seconds`` times ``HW11_TIME_LIMIT_SCALE`` (default 1; raise it on a very slow machine)."""
    try:
        return seconds * float(os.environ.get("HW11_TIME_LIMIT_SCALE", "1"))
    except ValueError:
        return seconds


# --------------------------------------------------------------------------------------------------
# Time limit
# --------------------------------------------------------------------------------------------------
class _Expired(BaseException):
    """Raised inside the student's code when the time is up (a BaseException, so ``except Exception``
    in the student's code does not swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Raise ``TimeoutError("<what> did not finish within <seconds> s ...")`` if the block runs longer.

    Uses ``SIGALRM`` (Linux, macOS; the main thread, which is where notebook cells run). Where that
    is not available (Windows, another thread) the block runs without a limit. The alarm repeats every
    0.25 s after the deadline, so code that catches it once is interrupted again. Nested limits:
    an inner limit never extends an outer one that ends sooner.
    """
    seconds = _scaled(seconds)
    usable = seconds > 0 and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return
    outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    if 0 < outer_delay <= seconds:
        yield  # an enclosing limit ends first; it raises, its context converts
        return
    outer_handler = signal.getsignal(signal.SIGALRM)
    state = {"active": True}

    def expire(signum: int, frame: Any) -> None:
        if state["active"]:
            raise _Expired()

    start = time.monotonic()
    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.25)
    try:
        yield
    except _Expired:
        raise TimeoutError(
            f"{what} did not finish within {seconds:g} s (an endless loop, or far more work than the task needs?)"
        ) from None
    finally:
        state["active"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if outer_delay > 0:
            left = max(outer_delay - (time.monotonic() - start), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


# --------------------------------------------------------------------------------------------------
# Output: warnings as notes, standard error to standard output
# --------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _fd_stderr_to_stdout() -> Iterator[None]:
    """Point file descriptor 2 at file descriptor 1 (C code and ``sys.__stderr__`` write there)."""
    try:
        sys.__stdout__.flush()
        sys.__stderr__.flush()
        saved = os.dup(2)
        os.dup2(1, 2)
    except (OSError, AttributeError, ValueError):
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError, AttributeError, ValueError):
            sys.__stderr__.flush()
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def warnings_as_notes(label: str = "note") -> Iterator[None]:
    """Inside the block, warnings are recorded and standard error goes to standard output; at the end,
    each distinct warning is printed once as ``note: <Category>: <message>``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with _fd_stderr_to_stdout(), contextlib.redirect_stderr(sys.stdout):
                yield
        finally:
            seen = set()
            for item in caught:
                message = re.sub(r"\s*\(Triggered internally at [^)]*\)", "", str(item.message)).strip()
                text = f"{item.category.__name__}: {message}"
                if text not in seen:
                    seen.add(text)
                    print(f"{label}: your code raised a warning (it does not cost points): {text}")


# --------------------------------------------------------------------------------------------------
# Stand-ins for the other TODOs
# --------------------------------------------------------------------------------------------------
def with_stand_ins(fn: Callable[..., Any], **stand_ins: Callable[..., Any]) -> Callable[..., Any]:
    """A copy of the student's ``fn`` whose global names ``stand_ins`` (other TODOs) are replaced.

    Anything that is not a plain Python function (a lambda is fine) is returned unchanged.
    """
    if not isinstance(fn, types.FunctionType):
        return fn
    namespace = dict(fn.__globals__)
    namespace.update(stand_ins)
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


@dataclass
class Spy:
    """A stand-in that records whether (and with what) it was called."""

    implementation: Callable[..., Any]
    calls: list = field(default_factory=list)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        return self.implementation(*args, **kwargs)


# --------------------------------------------------------------------------------------------------
# Calling the student's function, reporting
# --------------------------------------------------------------------------------------------------
def visible_check(fn_name: str) -> Callable[[Callable[..., bool]], Callable[..., bool]]:
    """Decorator of a check ``check_<fn_name>(fn) -> bool``: time limit, warnings as notes, never raises."""

    def decorate(check: Callable[..., bool]) -> Callable[..., bool]:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> bool:
            with warnings_as_notes():
                try:
                    with time_limit(CHECK_TIME_LIMIT_S, f"the check of {fn_name}"):
                        return bool(check(*args, **kwargs))
                except TimeoutError as error:
                    print(f"FAIL: {fn_name}: {error}")
                except Exception as error:  # a visible check reports, it does not crash the notebook
                    print(f"FAIL: {fn_name}: the check stopped with {type(error).__name__}: {error}")
            return False

        return run

    return decorate


def not_done_message(fn_name: str, error: NotImplementedError) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    origin = frames[-1].name if frames else fn_name
    if origin in (fn_name, "<module>"):
        return f"NOT DONE: {fn_name} still raises NotImplementedError; write its body first."
    return f"NOT DONE: {fn_name} calls {origin}, which still raises NotImplementedError; finish {origin} first."


def attempt(fn_name: str, fn: Callable[..., Any], *args: Any, case: str = "", **kwargs: Any) -> tuple[bool, Any]:
    """Call ``fn``; on an exception print NOT DONE / FAIL and return ``(False, None)``, else ``(True, result)``."""
    try:
        return True, fn(*args, **kwargs)
    except NotImplementedError as error:
        print(not_done_message(fn_name, error))
    except Exception as error:  # a visible check reports, it does not crash the notebook
        where = f"\n  case: {case}" if case else ""
        print(f"FAIL: {fn_name} raised {type(error).__name__}: {error}{where}")
    return False, None


def fail(fn_name: str, case: str, problem: str, hint: str) -> bool:
    print(f"FAIL: {fn_name}, case: {case}\n  {problem}\n  hint: {hint}")
    return False


def passed(fn_name: str, what: str) -> bool:
    print(f"PASS: {fn_name} ({what})")
    return True


def close(got: Any, expected: float, atol: float = 1e-4) -> bool:
    if isinstance(got, torch.Tensor):
        got = got.detach()
        if got.numel() != 1:
            return False
    try:
        return abs(float(got) - expected) <= atol
    except (TypeError, ValueError, RuntimeError):
        return False


def rounded(x: Any) -> Any:
    if not isinstance(x, torch.Tensor):
        return x
    return x.detach().double().round(decimals=4).tolist()


def tensor(values: Any) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def grad_alpha(value: float) -> torch.Tensor:
    """``alpha`` as the training loop passes it: a 0-dim tensor ``exp(log_alpha)`` that carries a graph."""
    return torch.tensor(value).log().requires_grad_(True).exp()


# --------------------------------------------------------------------------------------------------
# Table-driven checks
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One hand-computed case: call ``fn(**inputs)`` and expect ``expected`` (a tensor).

    ``mistakes``: (what a typical mistake returns on this case, what that mistake is); when the
    student's result matches one, the check names that mistake instead of the general ``hint``.
    """

    name: str
    inputs: dict[str, Any]
    expected: torch.Tensor
    hint: str
    mistakes: Sequence[tuple[torch.Tensor, str]] = ()


def run_cases(fn_name: str, fn: Callable[..., Any], cases: Sequence[Case], atol: float = 1e-5) -> bool:
    """Run ``fn`` on every case, print PASS or the first failure with its hint; return success."""
    for case in cases:
        inputs = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in case.inputs.items()}
        done, got = attempt(fn_name, fn, case=case.name, **inputs)
        if not done:
            return False
        if not isinstance(got, torch.Tensor):
            print(f"FAIL: {fn_name} returned {type(got).__name__}, expected a torch.Tensor\n  case: {case.name}")
            return False
        if tuple(got.shape) != tuple(case.expected.shape):
            print(
                f"FAIL: {fn_name} returned shape {tuple(got.shape)}, expected {tuple(case.expected.shape)}"
                f"\n  case: {case.name}"
            )
            return False
        got_values = got.detach().to(case.expected.dtype)
        if not torch.allclose(got_values, case.expected, atol=atol):
            hint = case.hint
            for wrong, diagnosis in case.mistakes:
                if wrong.shape == got_values.shape and torch.allclose(got_values, wrong, atol=atol):
                    hint = diagnosis
                    break
            print(
                f"FAIL: {fn_name}, case: {case.name}\n  expected {rounded(case.expected)}"
                f"\n  got      {rounded(got)}\n  hint: {hint}"
            )
            return False
    print(f"PASS: {fn_name} ({len(cases)} hand-computed cases)")
    return True
