#!/usr/bin/env python3
"""Writes fixtures/bars.csv: a seeded daily-bar history for the risk known-answer tests.

400 weekdays ending 2026-11-27, GBM-ish closes rounded to the symbol's decimals:
  SPY   the benchmark, 2 decimals, ~4 % of days missing
  AAA   beta ~1.3 to SPY, 2 decimals, ~2 % missing
  BBB   low price, 4 decimals, ~3 % missing
  CCC   high price, 2 decimals, ~2 % missing
  FLAT  constant close 50.00 on every day
  FEW   only the last 15 weekdays
  YNG   only the last 40 weekdays (for the 20/21-common-day boundary of the benchmark)
Python's own `random` (Mersenne Twister, seeded) keeps the file reproducible without numpy.
Run: python3 make_fixture.py   (from this folder; rewrites fixtures/bars.csv)
"""
import datetime
import math
import os
import random
from decimal import Decimal, ROUND_HALF_EVEN

SEED = 20261202
DAYS = 400
LAST = datetime.date(2026, 11, 27)


def weekdays():
    out, d = [], LAST
    while len(out) < DAYS:
        if d.weekday() < 5:
            out.append(d)
        d -= datetime.timedelta(days=1)
    return out[::-1]


def q(x, places):
    return Decimal(repr(x)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def main():
    rng = random.Random(SEED)
    days = weekdays()
    market = [rng.gauss(0.0004, 0.011) for _ in days]
    spec = {
        # symbol: (start, beta, idiosyncratic sigma, decimals, missing fraction)
        "SPY": (452.37, 1.0, 0.0, 2, 0.04),
        "AAA": (181.20, 1.3, 0.012, 2, 0.02),
        "BBB": (3.5125, 0.6, 0.02, 4, 0.03),
        "CCC": (1234.56, 0.9, 0.015, 2, 0.02),
        "YNG": (27.4, 1.1, 0.02, 2, 0.0),
    }
    rows = []
    for symbol, (start, beta, sigma, places, missing) in spec.items():
        price = start
        for i, day in enumerate(days):
            ret = beta * market[i] + rng.gauss(0.0, sigma) if sigma else market[i]
            open_ = price
            price = price * math.exp(ret)
            gone = rng.random() < missing
            if symbol == "YNG" and i < DAYS - 40:
                continue
            if gone:
                continue
            o, c = q(open_, places), q(price, places)
            hi = q(max(open_, price) * (1 + abs(rng.gauss(0, 0.004))), places)
            lo = q(min(open_, price) * (1 - abs(rng.gauss(0, 0.004))), places)
            hi, lo = max(hi, o, c), min(lo, o, c)
            rows.append((symbol, day, o, hi, lo, c, rng.randrange(100_000, 5_000_000)))
    for i, day in enumerate(days):
        rows.append(("FLAT", day, Decimal("50.00"), Decimal("50.00"), Decimal("50.00"), Decimal("50.00"), 1000))
    for day in days[-15:]:
        c = q(10 + rng.random(), 2)
        rows.append(("FEW", day, c, c, c, c, 10))
    rows.sort(key=lambda r: (r[0], r[1]))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "bars.csv")
    with open(path, "w", newline="\n") as f:
        f.write("symbol,date,open,high,low,close,volume\n")
        for s, d, o, h, l, c, v in rows:
            f.write(f"{s},{d.isoformat()},{o},{h},{l},{c},{v}\n")


if __name__ == "__main__":
    main()
