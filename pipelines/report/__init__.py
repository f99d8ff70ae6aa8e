"""Run reports: one self-contained HTML page per run (:mod:`.build`), from the run's data (:mod:`.data`),
with charts chosen in :mod:`.charts`, sample records from :mod:`.samples`, assembled in :mod:`.html`; ``assay report`` is
:mod:`pipelines.commands.report`. plotly is imported only when a report is written.
"""
