"""The JSON API's request and response bodies as msgspec Structs, one module per area.

A Struct only says which fields exist and their JSON types; the same Structs decode requests,
encode answers and generate the OpenAPI document (admin/api/openapi.py). Rules that need the
database or more than a type live in admin/services.
"""
