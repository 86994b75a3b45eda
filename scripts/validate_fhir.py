#!/usr/bin/env python3
"""Validates a FHIR Bundle with an independent implementation: the fhir.resources package (PyPI), whose models are
generated from the FHIR specification. fhir.resources 7 carries R4B (4.3.0) and R5, not R4 (4.0.1); for the
resources MikataVault exports (Bundle, Patient, Practitioner, MedicationRequest, MedicationStatement,
MedicationAdministration, Observation, Communication) R4B's structure is R4's. Also checks that every reference
resolves to an entry's fullUrl. Exit 0 when valid, 1 with the errors otherwise, 2 when fhir.resources is missing
(`make test` installs it)."""
import json
import sys

try:
    from fhir.resources.R4B.bundle import Bundle
except ImportError:
    print("fhir.resources is not installed: run `make test` (pip install fhir.resources==7.1.0)", file=sys.stderr)
    sys.exit(2)


# Required bindings (FHIR R4 "required" strength) that fhir.resources does not enforce (it types them as `code`).
REQUIRED_CODES = {
    ("Bundle", "type"): {"document", "message", "transaction", "transaction-response", "batch", "batch-response",
                         "history", "searchset", "collection"},
    ("MedicationRequest", "status"): {"active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped",
                                      "draft", "unknown"},
    ("MedicationRequest", "intent"): {"proposal", "plan", "order", "original-order", "reflex-order", "filler-order",
                                      "instance-order", "option"},
    ("MedicationStatement", "status"): {"active", "completed", "entered-in-error", "intended", "stopped", "on-hold",
                                        "unknown", "not-taken"},
    ("MedicationAdministration", "status"): {"in-progress", "not-done", "on-hold", "completed", "entered-in-error",
                                             "stopped", "unknown"},
    ("Observation", "status"): {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                                "entered-in-error", "unknown"},
    ("Communication", "status"): {"preparation", "in-progress", "not-done", "on-hold", "stopped", "completed",
                                  "entered-in-error", "unknown"},
}


def binding_errors(data):
    resources = [data] + [e.get("resource", {}) for e in data.get("entry", [])]
    for r in resources:
        for (rtype, field), allowed in REQUIRED_CODES.items():
            if r.get("resourceType") == rtype and r.get(field) not in allowed:
                yield f"{rtype}.{field} {r.get(field)!r} is not in its required value set"


def references(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def main(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    try:
        Bundle.parse_obj(data)
    except Exception as e:  # pydantic.ValidationError: every field at fault
        print(f"invalid FHIR Bundle: {e}", file=sys.stderr)
        return 1
    bad = list(binding_errors(data))
    if bad:
        print("invalid FHIR Bundle: " + "; ".join(bad), file=sys.stderr)
        return 1
    urls = {entry["fullUrl"] for entry in data.get("entry", [])}
    dangling = sorted(set(r for r in references(data) if r not in urls))
    if dangling:
        print(f"references that resolve to no entry: {dangling}", file=sys.stderr)
        return 1
    print(f"valid: {len(data.get('entry', []))} entries, every reference resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
