"""A unit's profile: its kind, the analyst's load figures, the standard-profile comparison, the
forecast baseline, and the passport that sums them up. The report pages and the API's
units/{muid}/profile/ both take it from here.
"""

from dataclasses import dataclass
from datetime import tzinfo

import pandas as pd

from analysis import forecast, kinds, load, standard_profiles
from analysis.stats import quality
from meters.obis import ObisCode


@dataclass(frozen=True, slots=True)
class Passport:
    """The few figures a page leads with and the overview compares units on."""

    kind: str
    label: str
    headline: str
    confidence: float
    confidence_word: str
    runner_up: str | None
    completeness: float
    energy: float | None  # in the window, in the channel's energy unit (kWh, kvarh, ...)
    annual_energy: float | None  # a year at the window's mean power
    peak_power: float | None  # in the channel's power unit (kW, kvar, ...)
    peak_at: pd.Timestamp | None
    base_load: float | None
    best_profile: str | None
    best_profile_error: float | None
    forecastability: str


@dataclass(frozen=True)
class UnitProfile:
    verdict: kinds.Verdict
    completeness: float
    load: load.LoadFigures | None
    standard: standard_profiles.Comparison | None
    backtest: forecast.Backtest | None

    @property
    def best_profile(self) -> standard_profiles.ProfileFit | None:
        return self.standard.best if self.standard else None

    @property
    def best_profile_text(self) -> str:
        best = self.best_profile
        if best is None:
            return "none"
        text = (
            f"{best.name} ({best.description}): error {best.error:.0%}, r = {best.correlation:.2f}"
        )
        if self.verdict.kind.family == "generation":
            text += "; a load profile, and this unit generates"
        return text

    @property
    def forecastability(self) -> str:
        """One line for the passport: the method to use and whether a model beats naive."""
        test = self.backtest
        if test is None or not test.origins:
            return "not backtested: " + (test.missing if test else "no readings")
        best = forecast.METHODS[test.best]
        if test.model_beats_naive:
            return f"ETS beats naive (MASE {test.mase['ets']:.2f})"
        return f"no model beats naive; {best} (MASE {test.mase[test.best]:.2f})"

    @property
    def verdict_text(self) -> str:
        verdict = self.verdict
        if verdict.kind is kinds.Kind.UNDETERMINED:
            return verdict.headline
        text = (
            f"{verdict.headline} ({verdict.confidence_word} confidence, {verdict.confidence:.2f})"
        )
        if verdict.runner_up is not None:
            text += f"; runner-up: {verdict.runner_up.label}"
        return text

    @property
    def passport(self) -> Passport:
        figures, best = self.load, self.best_profile
        return Passport(
            kind=self.verdict.kind.value,
            label=self.verdict.kind.label,
            headline=self.verdict_text,
            confidence=self.verdict.confidence,
            confidence_word=self.verdict.confidence_word,
            runner_up=self.verdict.runner_up.value if self.verdict.runner_up else None,
            completeness=self.completeness,
            energy=figures.energy if figures else None,
            annual_energy=figures.annual_energy if figures else None,
            peak_power=figures.peak_power if figures else None,
            peak_at=figures.peak_at if figures else None,
            base_load=figures.base_load if figures else None,
            best_profile=best.name if best else None,
            best_profile_error=best.error if best else None,
            forecastability=self.forecastability,
        )


def unit_profile(series: pd.Series, *, tz: tzinfo, obis: ObisCode) -> UnitProfile:
    """Every figure of the profile, from the series of the channel of code `obis` (no
    queries). The standard load profiles are of active energy: no other quantity is compared
    with them."""
    verdict = kinds.verdict(
        series, tz=tz, direction=obis.direction, quantity=obis.quantity, tariff=obis.tariff
    )
    if len(series) < 2:
        return UnitProfile(verdict, quality(series).completeness, None, None, None)
    return UnitProfile(
        verdict=verdict,
        completeness=quality(series).completeness,
        load=load.load_figures(series, tz=tz),
        standard=standard_profiles.compare(series, tz=tz) if obis.active else None,
        backtest=forecast.backtest(series, tz=tz),
    )
