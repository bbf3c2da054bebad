"""Where the sun is over Switzerland: the clock that photovoltaic generation follows.

NOAA's low-precision solar position (equation of time and declination as Fourier series of the
day of the year), good to a few tenths of a degree: ample for telling day from night at
15-minute resolution.
"""

import numpy as np
import pandas as pd

# The middle of Switzerland (near Älggi-Alp). Sunrise anywhere in the country is within about
# 20 minutes of it, which DARK_BELOW covers.
LATITUDE = 46.8
LONGITUDE = 8.2
# The sun counts as down below this elevation: a panel at the western or northern edge of the
# country still sees no direct sun then.
DARK_BELOW = -2.0


def elevation(
    index: pd.DatetimeIndex, *, latitude: float = LATITUDE, longitude: float = LONGITUDE
) -> np.ndarray:
    """The sun's elevation in degrees above the horizon at each (aware) timestamp."""
    utc = index.tz_convert("UTC")
    hours = utc.hour + utc.minute / 60 + utc.second / 3600
    gamma = 2 * np.pi / 365 * (utc.day_of_year - 1 + (hours - 12) / 24)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * np.cos(gamma)
        - 0.032077 * np.sin(gamma)
        - 0.014615 * np.cos(2 * gamma)
        - 0.040849 * np.sin(2 * gamma)
    )
    declination = (
        0.006918
        - 0.399912 * np.cos(gamma)
        + 0.070257 * np.sin(gamma)
        - 0.006758 * np.cos(2 * gamma)
        + 0.000907 * np.sin(2 * gamma)
        - 0.002697 * np.cos(3 * gamma)
        + 0.00148 * np.sin(3 * gamma)
    )
    solar_minutes = hours * 60 + eqtime + 4 * longitude
    hour_angle = np.radians(solar_minutes / 4 - 180)
    lat = np.radians(latitude)
    cos_zenith = np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(declination) * np.cos(
        hour_angle
    )
    return np.degrees(np.arcsin(np.clip(np.asarray(cos_zenith, dtype=float), -1, 1)))


def midpoints(index: pd.DatetimeIndex, step: pd.Timedelta) -> pd.DatetimeIndex:
    """The middle of each interval that starts at `index`: where its sun is taken."""
    return index + step / 2
