"""Routes HTTP requests to Q Business operations by the botocore model's HTTP bindings.

Every operation in botocore's ``qbusiness`` model has an ``http.method`` and a
``requestUri`` template such as ``/applications/{applicationId}/conversations?sync``.
The template becomes a regular expression over the *raw* (still percent-encoded)
path, so a label like ``{resourceARN}`` whose value contains ``%2F`` stays one
segment; literal query parts (``?sync``) must be present. Routes with literal query
parts and more literal characters win, which is how AWS tells ``ChatSync`` from
``Chat`` on the same path.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel

SERVICE_NAME = "qbusiness"
_LABEL = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


@functools.cache
def service_model() -> ServiceModel:
    """botocore's Q Business model (loaded once; it is immutable)."""
    return botocore.session.get_session().get_service_model(SERVICE_NAME)


@dataclass(frozen=True)
class Route:
    """One operation's HTTP binding, compiled."""

    operation: str
    method: str
    pattern: re.Pattern[str]
    literal_query: tuple[tuple[str, str], ...]
    specificity: tuple[int, int]

    def match(self, method: str, raw_path: str, query: dict[str, str]) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.pattern.fullmatch(raw_path)
        if found is None:
            return None
        for key, value in self.literal_query:
            if key not in query or (value and query[key] != value):
                return None
        return {name: unquote(val) for name, val in found.groupdict().items()}


def compile_route(operation: OperationModel) -> Route:
    method = str(operation.http["method"]).upper()
    template = str(operation.http["requestUri"])
    path_template, _, query_template = template.partition("?")
    regex_parts: list[str] = []
    position = 0
    literal_chars = 0
    for label in _LABEL.finditer(path_template):
        literal = path_template[position : label.start()]
        regex_parts.append(re.escape(literal))
        literal_chars += len(literal)
        greedy = label.group(2) == "+"
        regex_parts.append(f"(?P<{label.group(1)}>{'.+' if greedy else '[^/]+'})")
        position = label.end()
    tail = path_template[position:]
    regex_parts.append(re.escape(tail))
    literal_chars += len(tail)
    literal_query = tuple(parse_qsl(query_template, keep_blank_values=True))
    return Route(
        operation=operation.name,
        method=method,
        pattern=re.compile("".join(regex_parts) + "/?" if tail != "/" else "".join(regex_parts)),
        literal_query=literal_query,
        specificity=(len(literal_query), literal_chars),
    )


class Router:
    """Finds the operation a request calls."""

    def __init__(self, model: ServiceModel | None = None) -> None:
        self.model = model or service_model()
        routes = [compile_route(self.model.operation_model(n)) for n in self.model.operation_names]
        self._routes = sorted(routes, key=lambda r: r.specificity, reverse=True)

    def resolve(
        self, method: str, raw_path: str, raw_query: str
    ) -> tuple[OperationModel, dict[str, str]] | None:
        """The operation and its (decoded) URI labels, or None if nothing matches."""
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        for route in self._routes:
            labels = route.match(method.upper(), raw_path, query)
            if labels is not None:
                return self.model.operation_model(route.operation), labels
        return None
