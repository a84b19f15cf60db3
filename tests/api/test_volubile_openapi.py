"""The served OpenAPI document carries Volubile's operations and schemas as its seeds do."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seeds"
SCHEMA_NAMES = [
    "CreateCampaignRequest", "CampaignResponse", "ErrorResponse", "TimeSlot", "Retry",
    "CreateCampaignRecipientRequest", "ValidationError",
]  # fmt: skip

REQUEST_SCHEMAS = {"CreateCampaignRequest", "TimeSlot", "Retry", "CreateCampaignRecipientRequest"}


def seed_doc(name: str) -> dict[str, Any]:
    text = (SEEDS / name).read_text(encoding="utf-8")
    block = re.search(r"````yaml[^\n]*\n(.*?)````", text, re.S)
    assert block, f"no OpenAPI block in {name}"
    return yaml.safe_load(block.group(1))


@pytest.fixture(scope="module")
def seeds() -> dict[str, Any]:
    if not SEEDS.exists():
        pytest.fail(f"the seeds are missing at {SEEDS}")
    create = seed_doc("002_fd0413be6f4c5a44.txt")
    status = seed_doc("000_949f59b1c1245e82.txt")
    return {"create": create, "status": status}


@pytest.fixture
def served(client) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _types(doc: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """The JSON types a property schema admits (nulls aside, refs resolved)."""
    options = schema.get("anyOf") or schema.get("oneOf") or [schema]
    out: set[str] = set()
    for opt in options:
        opt = _resolve(doc, opt)
        if "type" in opt:
            out.add(opt["type"])
        elif "enum" in opt:
            out.add("string")
        elif "properties" in opt:
            out.add("object")
        else:
            out.add("any")
    return out - {"null"}


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_names_fields_and_required_match_the_seed(seeds, served, name: str) -> None:
    """Each seed schema is served under its name, with its fields, types and required list."""
    seed = seeds["create"]["components"]["schemas"][name]
    ours = served["components"]["schemas"].get(name)
    assert ours is not None, f"{name} is not in the served document"
    assert set(seed.get("properties", {})) <= set(ours.get("properties", {}))
    if name in REQUEST_SCHEMAS:  # requiring more than the seed would refuse valid clients
        assert set(seed.get("required", [])) == set(ours.get("required", []))
    else:  # responses may promise more fields than the seed guarantees, never fewer
        assert set(seed.get("required", [])) <= set(ours.get("required", []))
    for prop, spec in seed.get("properties", {}).items():
        want = {spec.get("type", "object")}
        got = _types(served, ours["properties"][prop])
        assert want <= got or "any" in got, f"{name}.{prop}: seed {want}, served {got}"
        if spec.get("type") == "array" and "enum" in spec.get("items", {}):
            items = _resolve(served, _resolve(served, ours["properties"][prop]).get("items", {}))
            if "anyOf" in ours["properties"][prop]:
                arr = next(o for o in ours["properties"][prop]["anyOf"] if o.get("type") == "array")
                items = _resolve(served, arr["items"])
            assert set(items["enum"]) == set(spec["items"]["enum"])


def test_enums_match(seeds, served) -> None:
    """Campaign status and day enums are exactly the seed's."""
    seed = seeds["create"]["components"]["schemas"]["CampaignResponse"]["properties"]
    ours = served["components"]["schemas"]
    status = _resolve(served, ours["CampaignResponse"]["properties"]["status"])
    assert set(status["enum"]) == set(seed["status"]["enum"])


@pytest.mark.parametrize(
    ("seed_key", "path", "method"),
    [("create", "/v1/campaigns", "post"), ("status", "/v1/campaigns/{id}/status", "post")],
)
def test_operations_match_the_seed(seeds, served, seed_key: str, path: str, method: str) -> None:
    """The seeded operations are served with the same operationId, body and response codes."""
    seed_op = seeds[seed_key]["paths"][path][method]
    op = served["paths"][path][method]
    assert op["operationId"] == seed_op["operationId"]
    assert set(seed_op["responses"]) <= set(op["responses"])
    assert "422" not in op["responses"]
    seed_body = seed_op["requestBody"]["content"]["application/json"]["schema"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in seed_body:
        assert body["$ref"] == seed_body["$ref"]
    else:
        assert set(_resolve(served, body)["enum"]) == set(seed_body["enum"])
    for code in ("400", "401", "403", "429"):
        content = op["responses"][code]["content"]
        (media,) = content.values()
        assert media["schema"]["$ref"].endswith("/ErrorResponse")
