"""A visitor without a browser: speaks Streamlit's own websocket protocol (the BackMsg/ForwardMsg protobufs that
ship with the streamlit package), so one process can drive dozens of sessions where Chromium fits a few.

It does what the frontend does for the actions the capacity benchmark needs: open the page (a rerun with no
widget state), press a button (a ``trigger_value``), set a slider or any widget (a value kept and sent with
every later rerun, as the frontend resends every widget it holds), send a component's value (the drawing
canvas's JSON, recorded once from Chromium), follow fragments (a widget inside a fragment reruns that fragment
alone) and their ``run_every`` timers (``auto_rerun``), keep the page's query string as the script sets it, and
fetch over HTTP what a browser fetches: on opening, the files Chromium asked for when it loaded the page
(recorded once, ``assets``), and after each action every image the page drew (``/media/...``).
Widgets are found by their key, label or element type in the deltas, never by their position, so the same
client works whatever pages or sections hold them.

Widgets the client never set are not sent: the server then takes their defaults, the values a browser would
have sent for them.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

WIDGET_ID = re.compile(r"^\$\$ID-[0-9a-f]+-(?P<key>.*)$")  # a keyed widget's id ends with its key


@dataclass
class Widget:
    id: str
    type: str           # the element's oneof name: "button", "slider", "bidi_component", ...
    label: str
    fragment_id: str    # the fragment that reruns when it changes ("" for the whole script)

    @property
    def key(self) -> str | None:
        match = WIDGET_ID.match(self.id)
        return match["key"] if match else None


@dataclass
class Session:
    """One visitor's tab. ``async with Session(url) as s: await s.open()``."""
    url: str
    query_string: str = ""
    widgets: dict[str, Widget] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)      # markdown and headings drawn since the last action
    errors: list[str] = field(default_factory=list)     # exceptions the page showed
    runs: int = 0                                        # script runs finished
    timeout: float = 600.0
    assets: tuple[str, ...] = ()                         # paths a browser fetches to load the page

    def __post_init__(self):
        self._states: dict[str, WidgetState] = {}
        self._page_hash = ""
        self._timers: dict[str, asyncio.Task] = {}
        self._running = False
        self._asked = False  # a rerun sent whose run has not begun (no new_session yet)
        self._changed = asyncio.Event()
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._media: list[str] = []
        self._http = None                                # the kept-alive HTTP connection (http.client)
        self._http_lock = threading.Lock()

    async def __aenter__(self) -> "Session":
        from websockets.asyncio.client import connect
        address = self.url.replace("http", "ws", 1).rstrip("/") + "/_stcore/stream"
        self._ws = await connect(address, subprotocols=["streamlit"], max_size=None, open_timeout=60)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self._timers.values():
            task.cancel()
        await self._ws.close()
        self._reader.cancel()
        if self._http is not None:
            self._http.close()

    # actions ---------------------------------------------------------------------------------------------------

    async def open(self) -> None:
        """The page as a new visitor's browser loads it: one rerun, then idle."""
        await asyncio.gather(self._rerun(), asyncio.to_thread(self._get, self.assets))
        await self.idle()

    async def click(self, label: str | None = None, *, key: str | None = None) -> None:
        widget = self.find("button", label=label, key=key)
        state = WidgetState(id=widget.id, trigger_value=True)
        await self._rerun(extra=[state], fragment_id=widget.fragment_id)

    async def set(self, value, label: str | None = None, *, key: str | None = None, kind: str | None = None) -> None:
        """Sets a widget's value and reruns. A float is a slider's (``double_array_value``), a str a select
        box's or a select slider's option (``string_value`` / ``string_array_value``), a bool a checkbox's;
        a dict ``{"json_value": ...}`` sets the proto's field itself (the canvas)."""
        widget = self.find(kind, label=label, key=key)
        state = WidgetState(id=widget.id)
        if isinstance(value, dict):
            for name, v in value.items():
                setattr(state, name, v)
        elif isinstance(value, bool):
            state.bool_value = value
        elif isinstance(value, (int, float)) and widget.type == "slider":
            state.double_array_value.data[:] = [float(value)]
        elif isinstance(value, int):
            state.int_value = value
        elif widget.type == "slider":  # a select slider sends its option's text
            state.string_array_value.data[:] = [str(value)]
        else:
            state.string_value = str(value)
        self._states[widget.id] = state
        await self._rerun(fragment_id=widget.fragment_id)

    def find(self, kind: str | None = None, *, label: str | None = None, key: str | None = None) -> Widget:
        """The widget with this key (a pattern matched against the whole key), else this label, of this type."""
        found = [w for w in self.widgets.values()
                 if (kind is None or w.type == kind)
                 and (key is None or (w.key is not None and re.fullmatch(key, w.key)))
                 and (label is None or w.label == label)]
        if len(found) != 1:
            raise LookupError(f"{len(found)} widgets of type {kind} with key {key!r} and label {label!r} "
                              f"(the page has {sorted(w.key or w.label for w in self.widgets.values())})")
        return found[0]

    async def idle(self) -> None:
        """Until no script runs and no fragment timer waits: the page is finished, as a visitor would see it."""
        deadline = time.monotonic() + self.timeout
        while self._running or self._timers:
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the page was still busy after {self.timeout:.0f} s")
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=min(left, 5.0))
            except asyncio.TimeoutError:
                pass
        if self._reader.done():
            self._reader.result()  # the connection's own error, if any
        media, self._media = self._media, []
        await asyncio.to_thread(self._get, media)

    def _get(self, paths) -> None:
        """GETs over one kept-alive connection, as a browser keeps its connections open (HTTP/1.1): a new
        connection per file made the server parse and accept 119 connections per page load, work Chromium's
        load does not cause."""
        import http.client
        import urllib.parse
        address = urllib.parse.urlsplit(self.url)
        with self._http_lock:
            for path in paths:
                for attempt in (1, 2):  # the server closes a connection left idle (uvicorn: after 5 s): reconnect
                    if self._http is None:
                        self._http = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
                    try:
                        self._http.request("GET", "/" + path.lstrip("./"),
                                           headers={"Accept-Encoding": "gzip, deflate, br"})
                        answer = self._http.getresponse()
                        answer.read()
                        break
                    except (http.client.RemoteDisconnected, ConnectionError):
                        self._http.close()
                        self._http = None
                        if attempt == 2:
                            raise
                if answer.status >= 400:
                    raise RuntimeError(f"GET {path}: HTTP {answer.status}")
                if answer.will_close:
                    self._http.close()
                    self._http = None

    # protocol --------------------------------------------------------------------------------------------------

    async def _rerun(self, extra: list[WidgetState] = (), fragment_id: str = "", auto: bool = False) -> None:
        msg = BackMsg()
        client = msg.rerun_script
        client.query_string = self.query_string
        client.page_script_hash = self._page_hash
        client.fragment_id = fragment_id
        client.is_auto_rerun = auto
        client.widget_states.widgets.extend([*self._states.values(), *extra])
        client.context_info.timezone = "UTC"
        client.context_info.locale = "en-US"
        client.context_info.url = self.url + ("?" + self.query_string if self.query_string else "")
        self.texts.clear()
        self._running = self._asked = True  # until its script_finished: an action's rerun has been asked for
        self._changed.set()
        await self._ws.send(msg.SerializeToString())

    async def _read(self) -> None:
        async for raw in self._ws:
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self._page_hash = msg.new_session.page_script_hash
                self._running, self._asked = True, False
                if not msg.metadata.run.fragment_ids:  # a whole run draws its fragments' timers anew
                    for task in self._timers.values():
                        task.cancel()
                    self._timers.clear()
            elif kind == "delta":
                self._delta(msg)
            elif kind == "page_info_changed":
                self.query_string = msg.page_info_changed.query_string
            elif kind == "auto_rerun":
                self._start_timer(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
            elif kind == "script_finished":
                self.runs += 1
                self._running = False
            elif kind == "session_status_changed":
                # the end of a run can be said after its script_finished, when a rerun has been asked since
                self._running = msg.session_status_changed.script_is_running or self._asked
            self._changed.set()

    def _delta(self, msg: ForwardMsg) -> None:
        delta = msg.delta
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        body = getattr(element, kind) if kind else None
        if kind == "exception":
            self.errors.append(f"{body.type}: {body.message}")
        elif kind in ("markdown", "heading"):
            self.texts.append(body.body)
        elif kind == "imgs":
            self._media.extend(img.url for img in body.imgs if img.url.startswith("/media/"))
        widget_id = getattr(body, "id", "") if body is not None else ""
        if widget_id.startswith("$$ID-"):
            self.widgets[widget_id] = Widget(widget_id, kind, getattr(body, "label", ""), delta.fragment_id)

    def _start_timer(self, fragment_id: str, interval: float) -> None:
        if fragment_id in self._timers:
            self._timers[fragment_id].cancel()

        async def tick():
            while True:
                await asyncio.sleep(interval)
                if not self._running:  # the frontend skips a tick while a run is going on
                    await self._rerun(fragment_id=fragment_id, auto=True)

        self._timers[fragment_id] = asyncio.create_task(tick())
