"""Salsaweb's incremental engine: inputs, memoized derived functions, red-green re-verification.

Declare inputs with ``@declare_input`` and derived functions with ``@derived``, and call
them with a ``Runtime`` first.  Plain Python: nothing here imports Django; the persistent
store, a Django app, is ``runtime.db``.  The modules, from the vocabulary up:

- ``errors``: the errors the engine raises.
- ``values``: when a recomputed value is "the same"; memos made read-only.
- ``keys``: a call's function and arguments as a store ``Key``, and back; code fingerprints.
- ``change``: ``Change`` and ``MISSING``: what a maintained function is told changed.
- ``memo``: the records kept: ``Memo`` per derived call, ``InputRecord`` per input, failure markers,
  and ``InputDeps``, a maintained memo's input dependencies.
- ``events``: ``Counters`` and ``Event``: what the engine did.
- ``registry``: declared functions by id, and the generation that tells a runtime to re-check code.
- ``storage/``: the one seam to where state lives (``base.Storage``) and the default in-memory store.
- ``lock``: ``StoreLock``, a store's re-entrant lock, which raises instead of waiting for a deadlock.
- ``context``: ``Context``, the runtime state every step uses, and this thread's call stack (``Frame``).
- ``function``: ``InputFunction`` and ``DerivedFunction``: keys, reads, writes, the memo-hit fast path.
- ``code``: a changed function's code starts a new revision.
- ``backdate``: early cutoff: an equal recomputed value keeps its ``changed_at``.
- ``execute``: run a body, record what it reads, store its memo.
- ``verify``: red-green: is a memo still valid, without executing it.
- ``fetch``: a derived call's value: top-level units of work, restarts, the driver for deep chains;
  a call that raised is raised again, not re-run, for the rest of the top-level call.
- ``maintain``: ``changes(rt)``: the diff of a call's inputs since its previous execution.
- ``explain``: the stored dependency graph below one call, as JSON or DOT.
- ``runtime``: ``Runtime``, what users hold: the context, units of work, transactions, counters,
  listeners.
- ``api``: ``declare_input``, ``derived``, ``previous_output``, ``untracked``.
"""
from .api import declare_input, derived, previous_output, untracked
from .change import MISSING, Change
from .maintain import changes
from .errors import CycleError, InputWriteError, MissingInputError, OutsideDerivedError, RuntimeEngineError
from .events import Counters, Event
from .explain import Explanation
from .function import DerivedFunction, InputFunction
from .runtime import Runtime

__all__ = [
    "MISSING",
    "Change",
    "Counters",
    "CycleError",
    "DerivedFunction",
    "Event",
    "Explanation",
    "InputFunction",
    "InputWriteError",
    "MissingInputError",
    "OutsideDerivedError",
    "Runtime",
    "RuntimeEngineError",
    "changes",
    "declare_input",
    "derived",
    "previous_output",
    "untracked",
]
