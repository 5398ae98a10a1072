"""Report assembly: the store -> report model layer (ONE place).

``from_store`` assembles an exam's ReportDoc from its rows and keeps report versions; ``signing`` signs, corrects
and queues the signed report's DICOM objects; ``exports`` gathers what an export needs. The measurement sections of
each exam kind come from the explicit table ``sections.SECTION_BUILDERS`` (``echo_sections``, ``ecg_sections``,
``perfusion_sections``). Settings (the LV case table ...) come in as a ``settings.ReportSettings`` built once by the
caller from the loaded settings; nothing in this package reads the configuration.

This layer may import the store, the report model (``device.reports``), sync state and the pure analysis packages;
the analysis packages never import it (import-linter contract in pyproject.toml).
"""
