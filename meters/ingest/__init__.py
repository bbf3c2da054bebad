"""Ingestion of meter readings: fetch (fetch.py), parse and validate (parse.py), load (load.py),
orchestrated per source in one transaction (pipeline.py)."""

from meters.ingest.pipeline import IngestReport, ingest_location, ingest_unit, resume_point

__all__ = ["IngestReport", "ingest_location", "ingest_unit", "resume_point"]
