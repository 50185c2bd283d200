"""The distillation flywheel: step traces become labelled examples, examples become better specialists.

>>> store = MemoryExampleStore()                                  # or RedisExampleStore(client, keys)
>>> collector = Collector(store)                                  # the executor's step observer
>>> report = await distill(examples, learner, Versions(root, "classifier"), live_path=path)  # doctest: +SKIP

See :mod:`~orchestrator.learning.examples` (the store), :mod:`~orchestrator.learning.collector`
(what is kept, feedback), :mod:`~orchestrator.learning.distill` (fit, compare, promote) and
:mod:`~orchestrator.learning.versions` (versions on disk, rollback) and
:mod:`~orchestrator.learning.audit` (a sample of local answers checked by the next model).
"""

from orchestrator.learning.audit import Auditor, AuditRate
from orchestrator.learning.collector import Collector
from orchestrator.learning.distill import DistillBusy, DistillReport, distill
from orchestrator.learning.examples import (
    AuditRecord,
    ExampleStore,
    LabelledExample,
    MemoryExampleStore,
    RedisExampleStore,
    StepTrace,
)
from orchestrator.learning.service import Learning
from orchestrator.learning.versions import VersionInfo, Versions

__all__ = [
    "AuditRate",
    "AuditRecord",
    "Auditor",
    "Collector",
    "DistillBusy",
    "DistillReport",
    "ExampleStore",
    "LabelledExample",
    "Learning",
    "MemoryExampleStore",
    "RedisExampleStore",
    "StepTrace",
    "VersionInfo",
    "Versions",
    "distill",
]
