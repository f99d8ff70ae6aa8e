"""The run engine: phases over staged parts, checkpointed item by item and step by step.

``Pipeline`` (:mod:`pipelines.run.pipeline`) runs a recipe's phases; the rest
are its parts: the state between phases (:mod:`~pipelines.run.state`),
checkpointed maps and the memory ceiling (:mod:`~pipelines.run.checkpoint`),
the phases' workers (:mod:`~pipelines.run.workers`), stream segments and
global stages' steps (:mod:`~pipelines.run.stages`), accounting
(:mod:`~pipelines.run.accounting`) and the manifest (:mod:`~pipelines.run.manifest`).
"""

from pipelines.run.accounting import AccountingError
from pipelines.run.pipeline import Pipeline
from pipelines.run.state import RunResult, RunState, RunStateError

__all__ = ["AccountingError", "Pipeline", "RunResult", "RunState", "RunStateError"]
