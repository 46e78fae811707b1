"""The OpenAPI document: public, valid OpenAPI 3.1, generated from the routes and Structs."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from admin.schemas import resources as schemas


def test_document_is_public_and_valid(client, app):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    doc = resp.get_json()
    validate(doc)
    assert doc["paths"]["/api/v1/openapi.json"]["get"]["security"] == []


def test_every_api_route_is_in_the_document(client, app):
    doc = client.get("/api/v1/openapi.json").get_json()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][path], (method, path)


def test_bodies_come_from_the_structs(client, app):
    doc = client.get("/api/v1/openapi.json").get_json()
    components = doc["components"]["schemas"]
    create = doc["paths"]["/api/v1/links"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/LinkCreate"
    link_create = components["LinkCreate"]
    assert set(link_create["required"]) == {"destination", "domain"}
    assert set(link_create["properties"]) == set(schemas.LinkCreate.__struct_encode_fields__)
    assert "201" in create["responses"]
    link_out = components["LinkOut"]
    assert set(link_out["properties"]) == set(schemas.LinkOut.__struct_encode_fields__)
    action = components["Action"]
    assert "list" in action["properties"] and "tag" in action["properties"]
    assert set(action["properties"]["type"]["enum"]) == {
        "whisper",
        "add_tag",
        "remove_tag",
        "add_to_list",
        "remove_from_list",
    }
    issue = doc["paths"]["/api/v1/links/{link_id}/issue"]["post"]
    assert issue["parameters"][0] == {
        "name": "link_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
    }
    error = issue["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"]
    assert error == "#/components/schemas/ErrorResponse"
