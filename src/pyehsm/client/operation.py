"""The ``operation`` decorator: ``def name(self, ...) -> Exchange[T]`` (a request described, no I/O) becomes a
method of :class:`pyehsm.client.Client` returning ``T`` and a coroutine method of
:class:`pyehsm.client.AsyncClient` returning the same; see :mod:`pyehsm.client.api`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

from pyehsm.client.base import BaseClient, Exchange

if TYPE_CHECKING:
    from pyehsm.client.api import AsyncTransport, SyncTransport

P = ParamSpec("P")
T = TypeVar("T")


@functools.cache
def _transports() -> tuple[type[AsyncTransport], type[SyncTransport]]:
    """The two transport bases (api.py defines them from the methods declared with this decorator)."""
    from pyehsm.client.api import AsyncTransport, SyncTransport

    return AsyncTransport, SyncTransport


class operation(Generic[P, T]):
    """Turns ``def name(self, ...) -> Exchange[T]`` into a client method returning ``T`` (Client) or a
    coroutine of ``T`` (AsyncClient), with the same name, arguments and docstring."""

    def __init__(self, describe: Callable[Concatenate[Any, P], Exchange[T]]) -> None:
        self.describe = describe
        self.__name__, self.__qualname__, self.__doc__ = describe.__name__, describe.__qualname__, describe.__doc__
        described = inspect.signature(describe)
        returns = str(described.return_annotation)
        if returns.startswith("Exchange[") and returns.endswith("]"):
            returns = returns[len("Exchange[") : -1]
        self.__signature__ = described.replace(return_annotation=returns)  # Client.encrypt(client, ...)
        self._bound_signature = self.__signature__.replace(parameters=list(described.parameters.values())[1:])

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: AsyncTransport, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, T]]: ...
    @overload
    def __get__(self, client: SyncTransport, owner: type[Any]) -> Callable[P, T]: ...
    def __get__(self, client: BaseClient[Any] | None, owner: type[Any]) -> Any:
        return self if client is None else self._bind(client)

    def _bind(self, client: BaseClient[Any]) -> Callable[..., Any]:
        describe = self.describe
        transports = _transports()
        if isinstance(client, transports[0]):
            transport = client

            async def method(*args: P.args, **kwargs: P.kwargs) -> T:
                return await transport._perform(describe(transport, *args, **kwargs))

        elif isinstance(client, transports[1]):
            sync_transport = client

            def method(*args: P.args, **kwargs: P.kwargs) -> T:  # type: ignore[misc]
                return sync_transport._perform(describe(sync_transport, *args, **kwargs))

        else:
            raise TypeError(f"{type(client).__name__} is neither a sync nor an async transport")
        method.__name__, method.__qualname__, method.__doc__ = self.__name__, self.__qualname__, self.__doc__
        method.__signature__ = self._bound_signature  # type: ignore[attr-defined]
        return method

    @overload
    def __call__(self, client: AsyncTransport, /, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, T]: ...
    @overload
    def __call__(self, client: SyncTransport, /, *args: P.args, **kwargs: P.kwargs) -> T: ...
    def __call__(self, client: BaseClient[Any], /, *args: P.args, **kwargs: P.kwargs) -> Any:
        """``Client.encrypt(client, ...)``, as with a plain method."""
        return self._bind(client)(*args, **kwargs)
