"""The cities the synthetic listings are drawn in: each one's geography and market.

NYC is the demo data's city; Boston has no neighbourhood groups and no shared rooms; Zurich
has districts and prices in CHF. :data:`CITIES` names them as ``--city`` takes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

# area: (share of listings, centre latitude, centre longitude, spread in degrees, log-price)
_Areas = dict[str, tuple[float, float, float, float, float]]
# room type: (share, log-price effect, typical guests)
_RoomTypes = dict[str, tuple[float, float, float]]
# a named place inside an area: (name, latitude, longitude); a listing takes the nearest
_Places = dict[str, tuple[tuple[str, float, float], ...]]


@dataclass(frozen=True)
class City:
    """One city's geography and market, as the generator draws it.

    ``areas`` are what a listing is drawn in. Where ``groups`` is true they are the city's
    neighbourhood groups (NYC's boroughs), written to ``neighbourhood_group_cleansed``, and
    ``neighbourhood_cleansed`` is the nearest of the area's ``places``; otherwise (Boston)
    the areas are the neighbourhoods themselves and the group column is empty, as in the
    real files of cities without groups.
    """

    name: str  # as in the address of the real listings, e.g. "Boston"
    region: str  # state or canton, for the free-text location columns
    country: str
    areas: _Areas
    room_types: _RoomTypes
    groups: bool
    places: _Places
    centre: tuple[float, float]  # where prices peak (latitude, longitude)
    lon_scale: float  # degrees of longitude to degrees of latitude: cos(latitude)
    lon_spread: float  # an area's spread in longitude, relative to its spread in latitude
    base_log_price: float  # in the local currency, written with "$" as Inside Airbnb does
    box: tuple[float, float, float, float]  # south, north, west, east
    clip: bool  # keep coordinates inside ``box`` (NYC's never were: see _NYC)
    area_tilt: Mapping[str, float]  # log-odds added per unit of `shift` tilt to new listings


_NYC_ROOM_TYPES: _RoomTypes = {
    "Entire home/apt": (0.51, 0.55, 3.2),
    "Private room": (0.465, 0.0, 1.7),
    "Shared room": (0.016, -0.55, 1.3),
    "Hotel room": (0.009, 0.65, 2.2),
}
# NYC is the demo data of every trained model and test: its numbers must not change (a test
# pins its output by hash). Its coordinates are unclipped normal draws, so about 1% fall just
# outside the city (mostly east of Queens); cleaning keeps them, as it keeps such real rows.
_NYC = City(
    name="New York",
    region="New York",
    country="United States",
    areas={
        "Manhattan": (0.40, 40.7685, -73.9730, 0.030, 0.45),
        "Brooklyn": (0.41, 40.6840, -73.9550, 0.035, 0.15),
        "Queens": (0.15, 40.7300, -73.8400, 0.045, 0.00),
        "Bronx": (0.03, 40.8450, -73.8650, 0.030, -0.10),
        "Staten Island": (0.01, 40.5900, -74.1100, 0.030, -0.05),
    },
    room_types=_NYC_ROOM_TYPES,
    groups=True,
    places={
        "Manhattan": (
            ("Midtown", 40.7549, -73.9840),
            ("Hell's Kitchen", 40.7638, -73.9918),
            ("Upper West Side", 40.7870, -73.9754),
            ("Upper East Side", 40.7736, -73.9566),
            ("Harlem", 40.8116, -73.9465),
            ("Washington Heights", 40.8417, -73.9394),
            ("Chelsea", 40.7465, -74.0014),
            ("East Village", 40.7265, -73.9815),
            ("Lower East Side", 40.7150, -73.9843),
            ("Financial District", 40.7075, -74.0113),
        ),
        "Brooklyn": (
            ("Williamsburg", 40.7081, -73.9571),
            ("Greenpoint", 40.7304, -73.9515),
            ("Bushwick", 40.6958, -73.9171),
            ("Bedford-Stuyvesant", 40.6872, -73.9418),
            ("Crown Heights", 40.6694, -73.9422),
            ("Park Slope", 40.6710, -73.9814),
            ("Flatbush", 40.6415, -73.9594),
        ),
        "Queens": (
            ("Astoria", 40.7644, -73.9235),
            ("Long Island City", 40.7447, -73.9485),
            ("Ridgewood", 40.7043, -73.9018),
            ("Jackson Heights", 40.7557, -73.8831),
            ("Flushing", 40.7675, -73.8331),
            ("Jamaica", 40.7027, -73.7890),
        ),
        "Bronx": (
            ("Mott Haven", 40.8091, -73.9229),
            ("Concourse", 40.8340, -73.9180),
            ("Fordham", 40.8615, -73.8900),
            ("Kingsbridge", 40.8834, -73.9051),
        ),
        "Staten Island": (
            ("St. George", 40.6437, -74.0736),
            ("Tompkinsville", 40.6366, -74.0772),
            ("Great Kills", 40.5543, -74.1563),
        ),
    },
    centre=(40.7549, -73.9840),  # Midtown
    lon_scale=0.76,
    lon_spread=1.3,
    base_log_price=4.05,
    box=(40.49, 40.92, -74.26, -73.69),
    clip=False,
    area_tilt={"Manhattan": 1.0, "Brooklyn": 0.0, "Queens": -0.5, "Bronx": -0.5},
)
# Boston's files leave neighbourhood_group_cleansed empty: its neighbourhoods are the areas.
# Pricier than NYC, mostly entire homes, and no shared rooms at all.
_BOSTON = City(
    name="Boston",
    region="Massachusetts",
    country="United States",
    areas={
        "Back Bay": (0.08, 42.3503, -71.0810, 0.005, 0.35),
        "Beacon Hill": (0.05, 42.3588, -71.0707, 0.004, 0.35),
        "Downtown": (0.09, 42.3555, -71.0605, 0.004, 0.35),
        "South End": (0.08, 42.3414, -71.0752, 0.005, 0.25),
        "Charlestown": (0.04, 42.3782, -71.0602, 0.004, 0.20),
        "South Boston": (0.06, 42.3381, -71.0476, 0.006, 0.20),
        "Fenway": (0.07, 42.3429, -71.1003, 0.005, 0.20),
        "East Boston": (0.08, 42.3751, -71.0392, 0.007, 0.00),
        "Jamaica Plain": (0.07, 42.3097, -71.1151, 0.009, 0.00),
        "Allston": (0.06, 42.3539, -71.1337, 0.005, -0.10),
        "Brighton": (0.07, 42.3490, -71.1530, 0.006, -0.10),
        "Roxbury": (0.07, 42.3152, -71.0914, 0.009, -0.15),
        "Dorchester": (0.13, 42.3016, -71.0676, 0.014, -0.15),
    },
    room_types={
        "Entire home/apt": (0.68, 0.55, 3.4),
        "Private room": (0.30, 0.0, 1.7),
        "Hotel room": (0.02, 0.65, 2.2),
    },
    groups=False,
    places={},
    centre=(42.3550, -71.0700),  # Boston Common
    lon_scale=0.74,
    lon_spread=1.35,
    base_log_price=4.15,
    box=(42.23, 42.40, -71.17, -70.99),
    clip=True,
    area_tilt={"Back Bay": 1.0, "Downtown": 1.0, "Dorchester": -0.5, "Roxbury": -0.5},
)
# Zurich's files group its quarters into twelve districts (Kreis), and its prices are in CHF,
# about 1.5 times NYC's numbers, written with "$" all the same: Inside Airbnb writes every
# currency so, and a price category of Zurich is a price band in francs.
_ZURICH = City(
    name="Zurich",
    region="Zurich",
    country="Switzerland",
    areas={
        "Kreis 1": (0.10, 47.3717, 8.5423, 0.004, 0.35),
        "Kreis 2": (0.08, 47.3480, 8.5300, 0.008, 0.10),
        "Kreis 3": (0.10, 47.3680, 8.5150, 0.006, 0.00),
        "Kreis 4": (0.16, 47.3770, 8.5230, 0.005, 0.05),
        "Kreis 5": (0.10, 47.3880, 8.5220, 0.005, 0.10),
        "Kreis 6": (0.08, 47.3870, 8.5450, 0.005, 0.05),
        "Kreis 7": (0.07, 47.3650, 8.5750, 0.008, 0.15),
        "Kreis 8": (0.07, 47.3560, 8.5550, 0.005, 0.20),
        "Kreis 9": (0.07, 47.3820, 8.4850, 0.007, -0.10),
        "Kreis 10": (0.07, 47.3980, 8.5150, 0.007, -0.05),
        "Kreis 11": (0.07, 47.4180, 8.5300, 0.008, -0.10),
        "Kreis 12": (0.03, 47.4030, 8.5750, 0.005, -0.15),
    },
    room_types={
        "Entire home/apt": (0.55, 0.55, 3.0),
        "Private room": (0.42, 0.0, 1.6),
        "Shared room": (0.01, -0.55, 1.3),
        "Hotel room": (0.02, 0.65, 2.2),
    },
    groups=True,
    places={
        "Kreis 1": (
            ("Rathaus", 47.3722, 8.5440),
            ("Lindenhof", 47.3730, 8.5405),
            ("City", 47.3690, 8.5390),
            ("Hochschulen", 47.3765, 8.5480),
        ),
        "Kreis 2": (
            ("Enge", 47.3620, 8.5310),
            ("Wollishofen", 47.3440, 8.5300),
            ("Leimbach", 47.3300, 8.5130),
        ),
        "Kreis 3": (
            ("Alt-Wiedikon", 47.3690, 8.5210),
            ("Friesenberg", 47.3600, 8.5040),
            ("Sihlfeld", 47.3720, 8.5130),
        ),
        "Kreis 4": (
            ("Werd", 47.3730, 8.5310),
            ("Langstrasse", 47.3790, 8.5280),
            ("Hard", 47.3850, 8.5160),
        ),
        "Kreis 5": (("Gewerbeschule", 47.3840, 8.5310), ("Escher Wyss", 47.3900, 8.5150)),
        "Kreis 6": (("Unterstrass", 47.3900, 8.5400), ("Oberstrass", 47.3850, 8.5520)),
        "Kreis 7": (
            ("Fluntern", 47.3780, 8.5640),
            ("Hottingen", 47.3690, 8.5620),
            ("Hirslanden", 47.3620, 8.5720),
            ("Witikon", 47.3580, 8.5920),
        ),
        "Kreis 8": (
            ("Seefeld", 47.3570, 8.5520),
            ("Mühlebach", 47.3630, 8.5500),
            ("Weinegg", 47.3530, 8.5630),
        ),
        "Kreis 9": (("Albisrieden", 47.3750, 8.4870), ("Altstetten", 47.3890, 8.4860)),
        "Kreis 10": (("Höngg", 47.4020, 8.4980), ("Wipkingen", 47.3930, 8.5290)),
        "Kreis 11": (
            ("Affoltern", 47.4200, 8.5090),
            ("Oerlikon", 47.4110, 8.5440),
            ("Seebach", 47.4240, 8.5430),
        ),
        "Kreis 12": (
            ("Saatlen", 47.4070, 8.5650),
            ("Schwamendingen-Mitte", 47.4040, 8.5720),
            ("Hirzenbach", 47.4010, 8.5860),
        ),
    },
    centre=(47.3697, 8.5392),  # Paradeplatz
    lon_scale=0.68,
    lon_spread=1.47,
    base_log_price=4.05 + float(np.log(1.5)),
    box=(47.32, 47.44, 8.45, 8.62),
    clip=True,
    area_tilt={"Kreis 1": 1.0, "Kreis 4": 0.5, "Kreis 11": -0.5, "Kreis 12": -0.5},
)
CITIES: dict[str, City] = {"nyc": _NYC, "boston": _BOSTON, "zurich": _ZURICH}
