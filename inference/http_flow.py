"""Read/write flow control of one connection of the local endpoint's HTTP server (``inference.http``): the base
class of ``HttpProtocol`` that decides when the transport is read.

Backpressure: a connection is not read while the app has its request or while its answers wait for the client to
read them (the transport's ``pause_writing``); what the client sends meanwhile waits in the sockets (TCP flow
control), so the memory one connection takes is bounded by a request and one read. The rest of a chunked body
already received is decoded on a later loop iteration (``_defer``), so that a body of tiny chunks does not hold the
event loop. Kept apart from the parsing and answering so that when reading stops and resumes is stated in one place.
"""

from __future__ import annotations

import asyncio


class FlowControl(asyncio.Protocol):
    """When a connection is read: the state below is kept by the subclass (``HttpProtocol``), which parses and
    answers what has arrived in ``_process``."""

    transport: asyncio.Transport | None
    loop: asyncio.AbstractEventLoop
    busy: bool  # a request is with the app
    write_paused: bool  # the transport's write buffer is over its high-water mark (pause_writing)
    deferred: bool  # the rest of a chunked body already received is decoded on a later loop iteration
    discarding: bool  # after a protocol error: input is dropped until the connection closes

    def _process(self) -> None:
        """Parse and answer what the buffer holds, as far as the connection's state allows (the subclass's)."""
        raise NotImplementedError

    def pause_writing(self) -> None:
        """The client reads its answers slower than it sends requests: stop reading and answering until it catches
        up (otherwise pipelined requests turn into answers piling up in this process)."""
        self.write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._process()
        self._update_reading()

    def _update_reading(self) -> None:
        """Read only while what arrives can be used at once: not while the app has the request, nor while answers
        wait for the client (pipelined bytes piled up in the buffer: 83 MB during one 1.2 s request). Input after a
        protocol error is read, to be discarded."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if (self.busy or self.write_paused or self.deferred) and not self.discarding:
            transport.pause_reading()
        else:
            transport.resume_reading()

    def _defer(self) -> None:
        """Let the other connections have their turn before decoding the rest of what has arrived of a chunked body
        (not reading meanwhile): a body of tiny chunks no longer holds the event loop for a whole read."""
        self.deferred = True
        self._update_reading()
        self.loop.call_soon(self._resume_parsing)

    def _resume_parsing(self) -> None:
        self.deferred = False
        self._process()
        self._update_reading()
