"""Every method and property of the upstream API reference (``flytekitplugins.mmcloud.connector``,
flytekit 1.16.14 docs, transcribed below) exists on ours with that signature; and the signatures
match the installed upstream classes too."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

import flytekitplugins.mmcloud.connector as upstream
import pytest
from flyteidl.admin.agent_pb2 import GetTaskLogsResponse, GetTaskMetricsResponse
from flytekit.extend.backend.base_connector import AsyncConnectorBase, Resource, ResourceMeta
from flytekit.models.literals import LiteralMap
from flytekit.models.task import TaskTemplate

from connector.flytekit_connector import MMCloudConnector, MMCloudMetadata

P = inspect.Parameter
KW = P.VAR_KEYWORD
POS = P.POSITIONAL_OR_KEYWORD
NOTHING = object()  # "the reference gives no annotation"


@dataclasses.dataclass(frozen=True)
class Documented:
    """One method as the reference documents it (``self`` left out)."""

    params: tuple[tuple[str, Any, Any], ...]  # (name, kind, annotation or NOTHING)
    returns: Any = NOTHING


# The reference, with its dotted type names resolved (its MMCloudMetadata is ours).
CONNECTOR_METHODS: dict[str, Documented] = {
    "async_login": Documented(()),
    "create": Documented(
        (
            ("task_template", POS, TaskTemplate),
            ("inputs", POS, typing.Optional[LiteralMap]),  # noqa: UP045 - as documented
            ("kwargs", KW, NOTHING),
        ),
        returns=MMCloudMetadata,
    ),
    "delete": Documented((("resource_meta", POS, MMCloudMetadata), ("kwargs", KW, NOTHING))),
    "get": Documented(
        (("resource_meta", POS, MMCloudMetadata), ("kwargs", KW, NOTHING)), returns=Resource
    ),
    "get_logs": Documented(
        (("resource_meta", POS, ResourceMeta), ("kwargs", KW, NOTHING)),
        returns=GetTaskLogsResponse,
    ),
    "get_metrics": Documented(
        (("resource_meta", POS, ResourceMeta), ("kwargs", KW, NOTHING)),
        returns=GetTaskMetricsResponse,
    ),
}
CONNECTOR_PROPERTIES = ("metadata_type", "task_category")
METADATA_METHODS: dict[str, Documented] = {
    "decode": Documented((("data", POS, bytes),), returns=ResourceMeta),
    "encode": Documented(()),
}


def _check(func: Any, documented: Documented, *, bound: bool) -> None:
    signature = inspect.signature(func)
    params = list(signature.parameters.values())
    if not bound:
        assert params[0].name == "self"
        params = params[1:]
    assert [(p.name, p.kind) for p in params] == [(n, k) for n, k, _ in documented.params]
    hints = typing.get_type_hints(func)
    for name, _, annotation in documented.params:
        if annotation is not NOTHING:
            assert hints[name] == annotation, name
    if documented.returns is not NOTHING:
        # The same type, or a subclass (decode returns our MMCloudMetadata, a ResourceMeta).
        assert hints["return"] is documented.returns or issubclass(
            hints["return"], documented.returns
        )


@pytest.mark.parametrize("name", sorted(CONNECTOR_METHODS))
def test_connector_methods_match_the_reference(name: str) -> None:
    _check(getattr(MMCloudConnector, name), CONNECTOR_METHODS[name], bound=False)


@pytest.mark.parametrize("name", CONNECTOR_PROPERTIES)
def test_connector_properties_exist(name: str) -> None:
    assert isinstance(inspect.getattr_static(MMCloudConnector, name), property)


def test_connector_is_built_with_no_arguments_and_names_itself_as_upstream() -> None:
    connector = MMCloudConnector()

    assert isinstance(connector, AsyncConnectorBase)
    assert connector.name == "MMCloud Connector"
    assert connector.metadata_type is MMCloudMetadata
    assert (connector.task_category.name, connector.task_category.version) == ("mmcloud_task", 0)


@pytest.mark.parametrize("name", sorted(METADATA_METHODS))
def test_metadata_methods_match_the_reference(name: str) -> None:
    bound = name == "decode"  # a classmethod
    _check(getattr(MMCloudMetadata, name), METADATA_METHODS[name], bound=bound)


def test_metadata_is_a_resource_meta_dataclass_of_job_id() -> None:
    assert issubclass(MMCloudMetadata, ResourceMeta)
    assert [(f.name, f.type) for f in dataclasses.fields(MMCloudMetadata)] == [("job_id", "str")]
    assert MMCloudMetadata(job_id="a" * 21).job_id == "a" * 21


def test_signatures_match_the_installed_upstream_classes() -> None:
    for cls, theirs in (
        (MMCloudConnector, upstream.MMCloudConnector),
        (MMCloudMetadata, upstream.MMCloudMetadata),
    ):
        for name in (*CONNECTOR_METHODS, *CONNECTOR_PROPERTIES, "encode", "decode"):
            if not hasattr(theirs, name):
                continue
            if name in CONNECTOR_PROPERTIES:
                assert isinstance(inspect.getattr_static(cls, name), property)
                continue
            ours_params = inspect.signature(getattr(cls, name)).parameters.values()
            their_params = inspect.signature(getattr(theirs, name)).parameters.values()
            assert [(p.name, p.kind, p.default) for p in ours_params] == [
                (p.name, p.kind, p.default) for p in their_params
            ], f"{cls.__name__}.{name}"
        # Coroutine where upstream has one (flytekit awaits or runs either kind).
        for name in ("async_login", "create", "get", "delete"):
            if hasattr(theirs, name):
                assert inspect.iscoroutinefunction(getattr(cls, name)) == (
                    inspect.iscoroutinefunction(getattr(theirs, name))
                ), name
