"""Ingestion of meter readings: fetch (fetch.py), parse and validate (parse.py, its
accelerator fast.py) on fetcher threads (read.py), load in batches (load.py), orchestrated for
many sources at once (pipeline.py); the poll registry's rules in schedule.py."""

from meters.ingest.pipeline import (
    IngestReport,
    ingest,
    ingest_location,
    ingest_unit,
    unit_sources,
)
from meters.ingest.read import DocumentSource, UnitSource, document_sources

__all__ = [
    "DocumentSource",
    "IngestReport",
    "UnitSource",
    "document_sources",
    "ingest",
    "ingest_location",
    "ingest_unit",
    "unit_sources",
]
