#!/usr/bin/env python3
"""Independent oracle for risk.metrics (contract 2c): reads fixtures/bars.csv and
fixtures/cases.json, writes the expected figures (fixtures/expected.json by default).

Independent of the Swift code on purpose: sets for the days, Python's `decimal` for the
portfolio values, `fractions` for k, numpy for the statistics (following empyrical's code,
https://github.com/quantopian/empyrical, empyrical/stats.py) and scipy's ndtri for Φ⁻¹.
A figure is None (JSON null) when its denominator has zero dispersion — decided by comparing
the inputs, as the contract says — or when it is not finite. -0.0 is written as 0.0.

Needs numpy and scipy (pip install numpy scipy).
Usage: python3 oracle.py [--out FILE]      (FILE "-" = stdout)
"""
import argparse
import csv
import datetime
import json
import math
import os
import sys
from decimal import Decimal
from fractions import Fraction

import numpy as np
from scipy.special import ndtri

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
ANN = 252            # empyrical APPROX_BDAYS_PER_YEAR, annualization of DAILY
MIN_RETURNS = 20     # fewer -> insufficient_history
BENCH_MIN_DAYS = 21  # the benchmark restricts only with bars on >= 21 common days


def load_bars(path):
    closes = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            closes.setdefault(row["symbol"], {})[datetime.date.fromisoformat(row["date"])] = Decimal(row["close"])
    return closes


def finite(x):
    x = float(x)
    if not math.isfinite(x):
        return None
    return x + 0.0  # -0.0 + 0.0 == +0.0


def run_case(case, closes):
    today = datetime.date.fromisoformat(case["today"])
    held = [(s, Decimal(q)) for s, q in case["holdings"]]
    # Days: before today, every held symbol has a bar (set intersection).
    common = None
    for s, _ in held:
        days = {d for d in closes.get(s, {}) if d < today}
        common = days if common is None else common & days
    bench = case["benchmark"]
    bench_days = {d for d in closes.get(bench, {}) if d < today} if bench else set()
    restricted = common & bench_days
    used = len(restricted) >= BENCH_MIN_DAYS
    days = sorted(restricted if used else common)[-(case["lookback"] + 1):]
    out = {"name": case["name"], "days": len(days),
           "firstDay": days[0].isoformat() if days else None,
           "asOf": days[-1].isoformat() if days else None,
           "benchmarkUsed": used}

    # V_t = Σ quantity·close exactly (Decimal with enough precision), then the nearest double.
    values = []
    for d in days:
        total = sum((q * closes[s][d] for s, q in held), Decimal(0))
        values.append(float(total))
    V = np.array(values, dtype=np.float64)
    r = V[1:] / V[:-1] - 1.0  # r_t = V_t/V_(t-1) - 1
    n = len(r)
    out["observations"] = n
    if n < MIN_RETURNS:
        out["outcome"] = "insufficient_history"
        out["available"] = n
        return out
    out["outcome"] = "figures"

    c = Fraction(case["confidence"])
    assert Fraction(1, 2) <= c <= Fraction(999, 1000)
    cutoff = 1 - c                      # exact
    rf = float(Decimal(case["riskFreeRate"])) / ANN
    flat = bool(np.all(r == r[0]))      # zero dispersion of r, by comparing the inputs

    # empyrical.annual_volatility: nanstd(returns, ddof=1) * ann_factor ** (1 / alpha), alpha = 2.
    volatility = 0.0 if flat else np.std(r, ddof=1) * ANN ** 0.5

    # empyrical.value_at_risk(returns, cutoff) = np.percentile(returns, 100 * cutoff), numpy's
    # default "linear" method; VaR = -that.
    var_h = -np.percentile(r, 100 * float(cutoff))

    # empyrical.conditional_value_at_risk: cutoff_index = int((len(returns) - 1) * cutoff);
    # mean(np.partition(returns, cutoff_index)[:cutoff_index + 1]). Here (n-1)·cutoff is a
    # Fraction, so k = floor + 1 is exact (the contract's rule; empyrical rounds in float).
    k = math.floor((n - 1) * cutoff) + 1
    cvar = -np.mean(np.partition(r, k - 1)[:k])

    # Parametric (Gaussian) one-day VaR, contract 2c: -(mean + Φ⁻¹(1 - c)·stdev(ddof 1)).
    sd = 0.0 if flat else np.std(r, ddof=1)
    var_p = -(np.mean(r) + ndtri(float(cutoff)) * sd)

    # empyrical.sharpe_ratio: adj = returns - risk_free;
    # mean(adj) / nanstd(adj, ddof=1) * sqrt(ann_factor). Null when r has zero dispersion.
    adj = r - rf
    sharpe = None if flat else np.mean(adj) / np.std(adj, ddof=1) * math.sqrt(ANN)

    # empyrical.sortino_ratio: mean(adj) * ann_factor / downside_risk, with
    # empyrical.downside_risk = sqrt(nanmean(clip(adj, -inf, 0) ** 2)) * sqrt(ann_factor).
    # The denominator is 0 exactly when no return is below rf (then null).
    if np.any(r < rf):
        downside = np.sqrt(np.mean(np.square(np.clip(adj, -np.inf, 0)))) * math.sqrt(ANN)
        sortino = np.mean(adj) * ANN / downside
    else:
        sortino = None

    # Contract: maxDrawdown = max_t(1 - V_t / max_{s<=t} V_s) over the days used.
    peak = np.maximum.accumulate(V)
    mdd = float(np.max(1.0 - V / peak))
    # empyrical.max_drawdown (from returns: cum_returns from 100, min((cum - max)/max)) is the
    # same quantity with the opposite sign; checked here, not used.
    cum = 100 * np.cumprod(np.concatenate([[1.0], 1 + r]))
    emp = np.min((cum - np.fmax.accumulate(cum)) / np.fmax.accumulate(cum))
    assert abs(-emp - mdd) <= 1e-12 + 1e-9 * abs(mdd), (emp, mdd)

    # empyrical.beta_aligned: ind_residual = b - mean(b); covariance = mean(ind_residual * r);
    # variance = mean(ind_residual ** 2) — ddof 0 in both (it cancels); beta = cov / var.
    # (empyrical maps var < 1e-30 to NaN; the contract's rule is zero dispersion of b.)
    beta = None
    if used:
        B = np.array([float(closes[bench][d]) for d in days], dtype=np.float64)
        b = B[1:] / B[:-1] - 1.0
        if not np.all(b == b[0]):
            resid = b - np.mean(b)
            beta = np.mean(resid * r) / np.mean(resid ** 2)

    out["figures"] = {
        "volatility": finite(volatility),
        "varHistorical": finite(var_h),
        "varParametric": finite(var_p),
        "cvar": finite(cvar),
        "sharpe": None if sharpe is None else finite(sharpe),
        "sortino": None if sortino is None else finite(sortino),
        "maxDrawdown": finite(mdd),
        "beta": None if beta is None else finite(beta),
    }
    out["k"] = k
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", default=os.path.join(FIXTURES, "bars.csv"))
    ap.add_argument("--cases", default=os.path.join(FIXTURES, "cases.json"))
    ap.add_argument("--out", default=os.path.join(FIXTURES, "expected.json"))
    args = ap.parse_args()
    closes = load_bars(args.bars)
    with open(args.cases) as f:
        cases = json.load(f)["cases"]
    result = {"generatedBy": "Tests/RiskTests/oracle.py", "numpy": np.__version__,
              "cases": [run_case(c, closes) for c in cases]}
    text = json.dumps(result, indent=1, ensure_ascii=False) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
