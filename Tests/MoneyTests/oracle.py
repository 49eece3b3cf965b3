#!/usr/bin/env python3
"""Independent oracle for ExactDecimal (Sources/Money): random cases with their expected answers.

Python's `decimal` (precision 1000, ROUND_HALF_EVEN quantize) gives sums, products, roundings and
quotients; `fractions.Fraction` cross-checks every quotient exactly and gives the nearest Doubles
(`float(Fraction)` rounds correctly). The grammars are checked with regular expressions.

    python3 oracle.py --seed 1 --count 5000 > vectors.txt

One case a line, fields separated by `|` (no field ever holds `|` or a newline):

    contract|TEXT|EXPECTED        ExactDecimal(contractInput: TEXT)?.description, `nil` when refused
    plain|TEXT|EXPECTED           ExactDecimal(canonicalOrPlain: TEXT)?.description, `nil` when refused
    add|A|B|R   sub|A|B|R   mul|A|B|R
    div|A|B|SCALE|R               A.divided(by: B, scale: SCALE), `nil` when B is zero
    round|A|SCALE|R               A.rounded(scale: SCALE)
    cmp|A|B|C                     -1, 0 or 1
    info|A|SIGNUM|INTDIGITS       signum, integerDigitCount
    ndouble|A|B|REPR              A.nearestDouble(dividedBy: B): repr(float), `nil` when B is zero
    double|A|REPR                 A.doubleValue: repr(float)

Operands A and B are in the plain form (`canonicalOrPlain`), at most 200 characters.
Lines starting with `#` are comments.
"""

import argparse
import math
import random
import re
import sys
from decimal import Decimal, getcontext, localcontext, ROUND_HALF_EVEN, Inexact
from fractions import Fraction

# Everything here is exact except the two explicit roundings (quotients and `round`), which
# lift the trap locally: any other inexact step (the default context has only 28 digits, even
# for unary minus and abs) raises instead of silently giving a wrong expectation.
getcontext().prec = 1000
getcontext().rounding = ROUND_HALF_EVEN
getcontext().traps[Inexact] = True

CONTRACT = re.compile(r"(0|[1-9][0-9]{0,19})(\.[0-9]{1,10})?")
PLAIN = re.compile(r"-?[0-9]+(\.[0-9]+)?")
MAX_TEXT = 200


def canon(d: Decimal) -> str:
    """The contract's output form -?(0|[1-9][0-9]*)(\\.[0-9]*[1-9])?, never -0."""
    if d == 0:
        return "0"
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def frac_text(f: Fraction) -> str:
    """A Fraction whose denominator is 2^i·5^j, as exact plain decimal text."""
    sign = "-" if f < 0 else ""
    f = abs(f)
    k = 0
    while (f * 10**k).denominator != 1:
        k += 1
    n = (f * 10**k).numerator
    if k == 0:
        return sign + str(n)
    s = str(n).rjust(k + 1, "0")
    return canon(Decimal(sign + s[:-k] + "." + s[-k:]))


def half_even_fraction(x: Fraction, scale: int) -> Fraction:
    """x rounded half-to-even to `scale` fractional digits, exactly."""
    y = x * 10**scale
    neg = y < 0
    y = abs(y)
    q, r = divmod(y.numerator, y.denominator)
    twice = 2 * r
    if twice > y.denominator or (twice == y.denominator and q % 2 == 1):
        q += 1
    out = Fraction(q, 10**scale)
    return -out if neg else out


def div_expected(a: str, b: str, scale: int) -> str:
    if Decimal(b) == 0:
        return "nil"
    with localcontext() as ctx:
        ctx.traps[Inexact] = False
        q = Decimal(a) / Decimal(b)
        # A tie at `scale` digits terminates there, so is exact here; an inexact quotient is
        # at least ~10^-60 away from any tie, far beyond the 1000 digits' error.
        r = q.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_EVEN)
    exact = half_even_fraction(Fraction(a) / Fraction(b), scale)
    assert Fraction(r) == exact, (a, b, scale, r, exact)
    return canon(r)


def round_expected(a: str, scale: int) -> str:
    with localcontext() as ctx:
        ctx.traps[Inexact] = False
        r = Decimal(a).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_EVEN)
    assert Fraction(r) == half_even_fraction(Fraction(a), scale)
    return canon(r)


def exact_op(op, a: str, b: str) -> str:
    return canon(op(Decimal(a), Decimal(b)))  # exact: the Inexact trap is on


def fdouble(x: Fraction) -> str:
    try:
        return repr(float(x))
    except OverflowError:
        return "inf" if x > 0 else "-inf"


class Gen:
    def __init__(self, rng: random.Random):
        self.r = rng

    def digits(self, n: int, first_nonzero: bool = False) -> str:
        if n == 0:
            return ""
        r = self.r
        style = r.random()
        if style < 0.08:
            body = "9" * n
        elif style < 0.14:
            body = "1" + "0" * (n - 1)
        elif style < 0.2:
            body = "".join(r.choice("05") for _ in range(n))
        else:
            body = "".join(r.choice("0123456789") for _ in range(n))
        if first_nonzero and body[0] == "0":
            body = r.choice("123456789") + body[1:]
        return body

    def number(self, max_int: int = 30, max_frac: int = 10, negatives: bool = True) -> str:
        """Canonical text of a random amount: 0–max_int integer and 0–max_frac fractional digits."""
        r = self.r
        if r.random() < 0.05:
            return "0"
        # Lengths skewed toward short ones but covering the whole range.
        ni = r.choice([0, 1, 1, 2, 3, 5, 8, r.randint(0, max_int), r.randint(0, max_int), max_int])
        ni = min(ni, max_int)
        nf = r.choice([0, 0, 1, 2, r.randint(0, max_frac), r.randint(0, max_frac), max_frac])
        nf = min(nf, max_frac)
        ip = self.digits(ni, first_nonzero=True) or "0"
        fp = self.digits(nf)
        text = ip + ("." + fp if fp else "")
        d = Decimal(text)
        if d == 0:
            return "0"
        if negatives and r.random() < 0.4:
            d = -d
        return canon(d)

    def plain_form(self, canonical: str) -> str:
        """The same value with extra leading/trailing zeros, maybe a sign on zero."""
        r = self.r
        neg = canonical.startswith("-")
        body = canonical[1:] if neg else canonical
        ip, _, fp = body.partition(".")
        ip = "0" * r.choice([0, 0, 1, 3, 12]) + ip
        fp = fp + "0" * r.choice([0, 0, 1, 4, 20])
        if r.random() < 0.2 and not fp:
            fp = "0" * r.randint(1, 5)
        out = ip + ("." + fp if fp else "")
        if neg or (canonical == "0" and r.random() < 0.3):
            out = "-" + out
        return out

    def mutate(self, text: str) -> str:
        """Something near a valid input, valid or not."""
        r = self.r
        choices = [
            lambda t: t + r.choice(["e5", "E-2", " ", ".", "0", "5", "x", "١"]),
            lambda t: r.choice(["+", "-", " ", "0", "00", ".", "--", "١"]) + t,
            lambda t: t.replace(".", "..", 1) if "." in t else t + ".",
            lambda t: t[: len(t) // 2] + r.choice([" ", ".", ",", "_", "e", "٣", "0"]) + t[len(t) // 2:],
            lambda t: t[:-1] if len(t) > 1 else "",
            lambda t: "." + t.split(".")[-1],
            lambda t: t.split(".")[0] + ".",
            lambda t: r.choice(["", ".", "-", "+", "-.", ".-1", "1e5", "0x1", " 1", "1 ", "-0", "١", "١٢٣",
                                "NaN", "inf", "0.", ".0", "00", "01", "1.2.3", "１"]),
        ]
        return r.choice(choices)(text)

    def contract_text(self) -> str:
        r = self.r
        ni = r.choice([1, 1, 2, 5, r.randint(1, 21), 20, 20, 21])
        nf = r.choice([0, 0, 1, r.randint(0, 11), 10, 10, 11])
        ip = self.digits(ni, first_nonzero=True)
        if r.random() < 0.1:
            ip = "0"
        elif r.random() < 0.05:
            ip = "0" + ip  # leading zero
        fp = self.digits(nf)
        t = ip + ("." + fp if nf else "")
        if r.random() < 0.3:
            t = self.mutate(t)
        return t

    def plain_text(self) -> str:
        r = self.r
        x = r.random()
        if x < 0.15:
            # Around the 200-character bound.
            n = r.choice([199, 200, 200, 201, 201, r.randint(195, 205)])
            ip = self.digits(r.randint(1, n))
            rest = n - len(ip) - 1
            t = ip + ("." + self.digits(rest) if rest > 0 else "")
            t = t[:n] if len(t) > n else t.ljust(n, "0")
            x = r.random()
            if x < 0.2:
                t = "-" + t[1:]  # the sign counts toward the 200
            elif x < 0.4:
                t = "-" + t
            return t
        t = self.plain_form(self.number(max_int=40, max_frac=40))
        if r.random() < 0.3:
            t = self.mutate(t)
        return t


def midpoint_case(g: Gen):
    """A quotient equal to a midpoint between two adjacent Doubles, or just off one."""
    r = g.r
    e = r.randint(-30, 60)
    x = abs(r.uniform(1.0, 2.0) * 2.0**e)
    if r.random() < 0.3:
        x = float(int(x) or 1)  # integers: midpoints like 2^53 + 1
        if x < 2**53:
            x = float(2**53 + r.randint(0, 1000) * 2)
    y = math.nextafter(x, math.inf)
    m = (Fraction(x) + Fraction(y)) / 2
    off = r.choice([0, 0, 1, -1])
    if off:
        # ± a tiny amount: one unit far below the last digit of the midpoint's expansion.
        k = len(frac_text(m).partition(".")[2]) + r.randint(1, 20)
        m = m + Fraction(off, 10**k)
    if r.random() < 0.4:
        m = -m
    text = frac_text(m)
    return text


def cases(seed: int, count: int):
    rng = random.Random(seed)
    g = Gen(rng)
    ops = (["contract"] * 8 + ["plain"] * 8 + ["add"] * 10 + ["sub"] * 10 + ["mul"] * 12
           + ["div"] * 16 + ["round"] * 12 + ["cmp"] * 8 + ["info"] * 4 + ["ndouble"] * 12 + ["double"] * 6)
    for _ in range(count):
        op = rng.choice(ops)
        if op == "contract":
            t = g.contract_text()
            exp = canon(Decimal(t)) if CONTRACT.fullmatch(t) else "nil"
            yield f"contract|{t}|{exp}"
        elif op == "plain":
            t = g.plain_text()
            exp = canon(Decimal(t)) if PLAIN.fullmatch(t) and len(t) <= MAX_TEXT else "nil"
            yield f"plain|{t}|{exp}"
        elif op in ("add", "sub", "mul"):
            a, b = g.number(), g.number()
            if rng.random() < 0.1:
                b = canon(-Decimal(a)) if op == "add" else a  # cancels to zero
            if op in ("add", "sub"):
                if rng.random() < 0.2:
                    a, b = g.plain_form(a), g.plain_form(b)
            f = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y}[op]
            yield f"{op}|{a}|{b}|{exact_op(f, a, b)}"
        elif op == "div":
            scale = 10 if rng.random() < 0.7 else rng.randint(0, 12)
            b = g.number()
            if rng.random() < 0.05:
                b = "0"
            x = rng.random()
            if x < 0.35 and Decimal(b) != 0:
                # A tie: a = (q + 5·10^-(scale+1))·b, so a ÷ b lies exactly halfway.
                q = Decimal(g.number(max_int=20, max_frac=scale))
                half = Decimal(5).scaleb(-(scale + 1))
                q = q + half if q >= 0 else q - half
                a = canon(q * Decimal(b))
            elif x < 0.45 and Decimal(b) != 0:
                # Just off a tie.
                q = Decimal(g.number(max_int=15, max_frac=scale)) + Decimal(5).scaleb(-(scale + 1))
                a = canon(q * Decimal(b) + Decimal(rng.choice([1, -1])).scaleb(-(scale + 25)))
            else:
                a = g.number()
            yield f"div|{a}|{b}|{scale}|{div_expected(a, b, scale)}"
        elif op == "round":
            scale = rng.randint(0, 12)
            x = rng.random()
            if x < 0.4:
                # Ends in 5 at the first dropped digit.
                ip = g.digits(rng.randint(0, 25), first_nonzero=True) or "0"
                a = ip + "." + g.digits(scale) + "5"
                if rng.random() < 0.2:
                    a += "0" * rng.randint(1, 3) + rng.choice(["", "1"])
                if rng.random() < 0.4:
                    a = "-" + a
                a = canon(Decimal(a))
            else:
                a = g.number(max_frac=14)
            yield f"round|{a}|{scale}|{round_expected(a, scale)}"
        elif op == "cmp":
            a = g.number()
            x = rng.random()
            if x < 0.2:
                b = a
            elif x < 0.3:
                b = canon(-Decimal(a))
            elif x < 0.5:
                b = canon(Decimal(a) + Decimal(rng.choice([1, -1])).scaleb(-rng.randint(0, 12)))
            else:
                b = g.number()
            if rng.random() < 0.2:
                a, b = g.plain_form(a), g.plain_form(b)
            da, db = Decimal(a), Decimal(b)
            yield f"cmp|{a}|{b}|{(da > db) - (da < db)}"
        elif op == "info":
            a = g.number(max_int=40, max_frac=15)
            d = Decimal(a)
            sig = (d > 0) - (d < 0)
            ip = canon(abs(d)).partition(".")[0]
            intdigits = 0 if ip == "0" else len(ip)
            if rng.random() < 0.2:
                a = g.plain_form(a)
            yield f"info|{a}|{sig}|{intdigits}"
        elif op == "ndouble":
            x = rng.random()
            if x < 0.3:
                # The quotient is a Double midpoint (or just off one): a = m·b.
                m = midpoint_case(g)
                b = g.number(max_int=8, max_frac=4, negatives=True) if rng.random() < 0.5 else "1"
                if Decimal(b) == 0:
                    b = "1"
                a = canon(Decimal(m) * Decimal(b))
                if len(a) > MAX_TEXT:
                    a, b = m, "1"
            else:
                a, b = g.number(), g.number()
                if rng.random() < 0.03:
                    b = "0"
            exp = "nil" if Decimal(b) == 0 else fdouble(Fraction(a) / Fraction(b))
            yield f"ndouble|{a}|{b}|{exp}"
        elif op == "double":
            a = midpoint_case(g) if rng.random() < 0.3 else g.number()
            yield f"double|{a}|{fdouble(Fraction(a))}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    args = p.parse_args()
    out = sys.stdout
    out.write(f"# oracle.py --seed {args.seed} --count {args.count}\n")
    for line in cases(args.seed, args.count):
        assert "\n" not in line
        out.write(line + "\n")


if __name__ == "__main__":
    main()
