"""Checks answers of the server against the API's description: each answer's status must be
described for its operation, and its JSON body must match the schema described for it.

Reads one JSON object on standard input:
    {"document": {...the description...},
     "answers": [{"path": "/api/cases/{number}", "method": "get", "status": 200, "body": ...}]}
Prints one line per mismatch and exits 1 if there was any; run by tests/integration/openapi.rs
with the interpreter that tests/openapi/setup installs.
"""

import json
import sys

from openapi_schema_validator import OAS31Validator


def response_of(document, answer):
    """The described response for an answer's status, its reference resolved, or None."""
    operation = document["paths"].get(answer["path"], {}).get(answer["method"])
    if operation is None:
        return None
    response = operation["responses"].get(str(answer["status"]))
    if response is not None and "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[-1]
        response = document["components"]["responses"][name]
    return response


def composed(value, found):
    """The names of the component schemas referenced from inside an `allOf` in `value`."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "allOf":
                for part in inner:
                    ref = part.get("$ref", "") if isinstance(part, dict) else ""
                    if ref.startswith("#/components/schemas/"):
                        found.add(ref.rsplit("/", 1)[-1])
            composed(inner, found)
    elif isinstance(value, list):
        for inner in value:
            composed(inner, found)
    return found


def closed(document):
    """The document with every object schema of its components closed to properties it does
    not describe, so that a field an answer carries and the description lacks is caught.
    A schema that is a part of another (`allOf`) is left open: the whole is closed instead."""
    document = json.loads(json.dumps(document))
    parts = composed(document, set())
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        if name not in parts and ("properties" in schema or "allOf" in schema):
            schema["unevaluatedProperties"] = False
    return document


def main():
    given = json.load(sys.stdin)
    document = closed(given["document"])
    # A schema that can resolve the document's own references (#/components/...).
    root = {key: value for key, value in document.items() if key != "paths"}
    problems = []
    for answer in given["answers"]:
        where = f'{answer["method"].upper()} {answer["path"]} {answer["status"]}'
        response = response_of(document, answer)
        if response is None:
            problems.append(f"{where}: this status is not described")
            continue
        if answer["body"] is None:
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            problems.append(f"{where}: a JSON body where none is described")
            continue
        validator = OAS31Validator(dict(root, **schema))
        for error in validator.iter_errors(answer["body"]):
            at = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{where}: at /{at}: {error.message[:300]}")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
