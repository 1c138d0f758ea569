from openapi_spec_validator import validate

from ems.api.app import build_app
from ems.api.openapi import openapi_document
from ems.engine.engine import Engine
from ems.metrics import Metrics


def test_document_validates_as_openapi_3():
    validate(openapi_document())


def test_every_route_is_documented():
    app = build_app(Engine(Metrics()), "k")
    documented = set(openapi_document()["paths"])
    served = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert served - {"/openapi.json"} == documented
