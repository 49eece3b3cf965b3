#!/usr/bin/env python3
"""Checks protocol/: schemas, examples and scenario scripts (see gateway.md §12).

- every schemas/*.schema.json is a valid draft 2020-12 schema whose $id ends with its file name;
- every examples/*.json validates against the schema it names;
- every examples/invalid/*.json does NOT validate against the schema it names;
- every schema is used (named by an example, or reached through $ref while one is validated);
- every scenarios/*.json (and scenarios/pending-*/*.json) has the shape scenarios/README.md describes.

Patterns are ECMA-262 regular expressions. Python's `re` reads a final `$` as "end, or before a
final newline"; here it is read as end of string, as ECMA-262 does.

Usage: python3 protocol/check.py        exit 0 when all holds, 1 otherwise; one summary line.
Needs the `jsonschema` (4.18 or later) and `referencing` packages.
"""

import json
import re
import sys
from pathlib import Path

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE / "schemas"
EXAMPLES = HERE / "examples"
SCENARIOS = HERE / "scenarios"
BASE = "https://quantumvest.example/protocol/schemas/"

STEP_KINDS = {"send", "send_text", "send_binary", "expect", "expect_batch", "expect_unordered", "expect_close"}
SAVE = re.compile(r"^<save:([A-Za-z][A-Za-z0-9_]*)>$")
USE = re.compile(r"^<\$([A-Za-z][A-Za-z0-9_]*)>$")


def ecma_pattern(validator, pattern, instance, schema):
    """The `pattern` keyword with ECMA-262's end-of-input `$`."""
    if not validator.is_type(instance, "string"):
        return
    python = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") else pattern
    if re.search(python, instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


Validator = validators.extend(Draft202012Validator, {"pattern": ecma_pattern})


def load_json(path, problems):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        problems.append(f"{path.relative_to(HERE)}: not readable JSON: {error}")
        return None


def load_schemas(problems):
    schemas = {}
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        schema = load_json(path, problems)
        if schema is None:
            continue
        name = path.name
        if schema.get("$id") != BASE + name:
            problems.append(f"schemas/{name}: $id must be {BASE + name}")
        if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
            problems.append(f"schemas/{name}: $schema must be draft 2020-12")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            problems.append(f"schemas/{name}: not a valid schema: {error.message}")
            continue
        schemas[name] = schema
    return schemas


def validate(schemas, name, message, used):
    """Returns the validation errors of `message` against schemas/`name`; records the schema
    files that validation actually reached in `used`."""
    def retrieve(uri):
        if uri.startswith(BASE) and uri[len(BASE):] in schemas:
            used.add(uri[len(BASE):])
            return Resource.from_contents(schemas[uri[len(BASE):]])
        raise NoSuchResource(ref=uri)

    used.add(name)
    validator = Validator(schemas[name], registry=Registry(retrieve=retrieve))
    return sorted(validator.iter_errors(message), key=lambda e: list(e.absolute_path))


def check_examples(schemas, problems, used):
    counts = {"valid": 0, "invalid": 0}
    for folder, kind in ((EXAMPLES, "valid"), (EXAMPLES / "invalid", "invalid")):
        for path in sorted(folder.glob("*.json")):
            where = path.relative_to(HERE)
            example = load_json(path, problems)
            if example is None:
                continue
            keys = {"description", "schema", "message"} | ({"why"} if kind == "invalid" else set())
            if not isinstance(example, dict) or set(example) != keys:
                problems.append(f"{where}: must have exactly the members {sorted(keys)}")
                continue
            if not isinstance(example["description"], str) or not example["description"].strip():
                problems.append(f"{where}: empty description")
            if kind == "invalid" and (not isinstance(example["why"], str) or not example["why"].strip()):
                problems.append(f"{where}: empty why")
            name = example["schema"]
            if name not in schemas:
                problems.append(f"{where}: unknown schema {name!r}")
                continue
            counts[kind] += 1
            errors = validate(schemas, name, example["message"], used)
            if kind == "valid" and errors:
                first = errors[0]
                at = "/".join(str(p) for p in first.absolute_path) or "(root)"
                problems.append(f"{where}: fails {name} at {at}: {first.message}")
            if kind == "invalid" and not errors:
                problems.append(f"{where}: passes {name} but must fail ({example['why']})")
    return counts


def check_pattern_names(value, saved, where, problems):
    """Every <$NAME> must name a value saved by an earlier <save:NAME>."""
    if isinstance(value, dict):
        for item in value.values():
            check_pattern_names(item, saved, where, problems)
    elif isinstance(value, list):
        for item in value:
            check_pattern_names(item, saved, where, problems)
    elif isinstance(value, str):
        if (m := USE.match(value)) and m.group(1) not in saved:
            problems.append(f"{where}: <${m.group(1)}> used before it is saved")


def collect_saves(value, saved):
    if isinstance(value, dict):
        for item in value.values():
            collect_saves(item, saved)
    elif isinstance(value, list):
        for item in value:
            collect_saves(item, saved)
    elif isinstance(value, str) and (m := SAVE.match(value)):
        saved.add(m.group(1))


def check_scenarios(problems):
    count = 0
    # pending-*/: scenarios of a module not merged yet (the Swift replay reads only the top level).
    for path in sorted(SCENARIOS.glob("*.json")) + sorted(SCENARIOS.glob("pending-*/*.json")):
        where = path.relative_to(HERE)
        scenario = load_json(path, problems)
        if scenario is None:
            continue
        count += 1
        if not isinstance(scenario, dict) or set(scenario) != {"description", "role", "steps"}:
            problems.append(f"{where}: must have exactly description, role, steps")
            continue
        if scenario["role"] not in ("anonymous", "publisher"):
            problems.append(f"{where}: role must be anonymous or publisher")
        steps = scenario["steps"]
        if not isinstance(steps, list) or not steps:
            problems.append(f"{where}: steps must be a non-empty array")
            continue
        saved = set()
        for index, step in enumerate(steps):
            at = f"{where} step {index}"
            if not isinstance(step, dict) or len(step) != 1 or not set(step) <= STEP_KINDS:
                problems.append(f"{at}: must be one of {sorted(STEP_KINDS)}")
                continue
            kind, value = next(iter(step.items()))
            if kind == "send_text" and not isinstance(value, str):
                problems.append(f"{at}: send_text takes a string")
            if kind == "send_binary" and not isinstance(value, str):
                problems.append(f"{at}: send_binary takes a base64 string")
            if kind in ("expect_batch", "expect_unordered") and (not isinstance(value, list) or not value):
                problems.append(f"{at}: {kind} takes a non-empty array of patterns")
            if kind == "expect_close" and not (isinstance(value, int) and 1000 <= value <= 4999):
                problems.append(f"{at}: expect_close takes a close code")
            check_pattern_names(value, saved, at, problems)
            if kind.startswith("expect"):
                collect_saves(value, saved)
            elif json.dumps(value).find("<save:") >= 0:
                problems.append(f"{at}: <save:…> belongs in an expectation")
    return count


def main():
    problems = []
    schemas = load_schemas(problems)
    used = set()
    counts = check_examples(schemas, problems, used)
    for name in sorted(set(schemas) - used):
        problems.append(f"schemas/{name}: used by no example")
    scenarios = check_scenarios(problems)
    for problem in problems:
        print(problem)
    totals = (f"{len(schemas)} schemas, {counts['valid']} valid and {counts['invalid']} invalid "
              f"examples, {scenarios} scenarios")
    if problems:
        print(f"check.py: FAILED: {len(problems)} problems ({totals})")
        return 1
    print(f"check.py: ok: {totals}; every schema valid and used, every valid example passes, "
          f"every invalid one fails, every scenario well-formed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
