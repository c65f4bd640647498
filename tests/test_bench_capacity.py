"""The capacity benchmark's load client speaks the frontend's part of Streamlit's protocol: fed the server's
messages by a fake websocket, it must send what a browser sends."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from st_client import Session  # noqa: E402

PAGE = "896a6de3bf71c44440b34b5fc7ef333c"
FRAGMENT = "e287eea3fa226b39a1a4751347d3fa68"


class FakeSocket:
    """The server's side: keeps what the client sends and answers each rerun with the next scripted run (a
    fragment's run by default)."""

    def __init__(self):
        self.incoming: asyncio.Queue = asyncio.Queue()
        self.sent: list[BackMsg] = []
        self.answers: list[list[ForwardMsg]] = []

    def answer(self, *messages: ForwardMsg) -> None:
        self.answers.append(list(messages))

    async def send(self, raw: bytes) -> None:
        msg = BackMsg()
        msg.ParseFromString(raw)
        self.sent.append(msg)
        fragment = msg.rerun_script.fragment_id
        for reply in self.answers.pop(0) if self.answers else [new_session([fragment]), finished()]:
            self.incoming.put_nowait(reply)

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        return (await self.incoming.get()).SerializeToString()

    async def close(self) -> None:
        pass


def new_session(fragments=()) -> ForwardMsg:
    msg = ForwardMsg()
    msg.new_session.page_script_hash = PAGE
    msg.metadata.run.fragment_ids.extend(fragments)
    return msg


def widget(kind: str, key: str, label: str, fragment: str = "") -> ForwardMsg:
    msg = ForwardMsg()
    msg.delta.fragment_id = fragment
    body = getattr(msg.delta.new_element, kind)
    body.id = f"$$ID-0123abcd-{key}"
    if label:
        body.label = label
    return msg


def finished() -> ForwardMsg:
    msg = ForwardMsg()
    msg.script_finished = ForwardMsg.FINISHED_SUCCESSFULLY
    return msg


def query(text: str) -> ForwardMsg:
    msg = ForwardMsg()
    msg.page_info_changed.query_string = text
    return msg


def timer(interval: float, fragment: str) -> ForwardMsg:
    msg = ForwardMsg()
    msg.auto_rerun.interval = interval
    msg.auto_rerun.fragment_id = fragment
    return msg


def key_of(state) -> str:
    return state.id.split("-", 2)[2]


async def connected(socket: FakeSocket) -> Session:
    session = Session("http://127.0.0.1:1")
    session._ws = socket
    session._reader = asyncio.create_task(session._read())
    return session


def test_the_load_client_sends_what_the_frontend_sends():
    async def scenario():
        socket = FakeSocket()
        s = await connected(socket)
        page = [widget("slider", "lr", "Learning rate"), widget("button", "train", "Train"),
                widget("bidi_component", "canvas-0", "", FRAGMENT), widget("button", "clear", "Clear", FRAGMENT)]
        socket.answer(new_session(), *page, finished())
        await s.open()
        first = socket.sent[-1].rerun_script
        assert first.page_script_hash == "" and not first.widget_states.widgets  # a new visitor's first run

        # found by key or label wherever the page put it; a whole-page widget reruns the whole script
        socket.answer(new_session(), *reversed(page), query("ws=abc"), finished())
        await s.set(0.5, key="lr")
        await s.idle()
        socket.answer(new_session(), *page, timer(0.05, "live"), finished())
        await s.click("Train")
        sent = socket.sent[-1].rerun_script
        assert sent.page_script_hash == PAGE and sent.fragment_id == "" and sent.query_string == "ws=abc"
        states = {key_of(w): w for w in sent.widget_states.widgets}
        assert states["lr"].double_array_value.data == [0.5]  # a set value is resent with every rerun
        assert states["train"].trigger_value
        await asyncio.sleep(0.3)  # the live fragment's timer reruns it, as the browser's interval does
        assert any(m.rerun_script.is_auto_rerun and m.rerun_script.fragment_id == "live" for m in socket.sent)
        socket.answer(new_session(), *page, finished())  # a whole run without the timer stops it
        await s.set(0.1, key="lr")
        await s.idle()

        # a widget inside a fragment reruns that fragment alone; a trigger is sent once, a value kept
        await s.set({"json_value": '{"drawing": {}}'}, key=r"canvas-\d+")
        sent = socket.sent[-1].rerun_script
        states = {key_of(w): w for w in sent.widget_states.widgets}
        assert sent.fragment_id == FRAGMENT
        assert states["canvas-0"].json_value == '{"drawing": {}}' and not any(w.trigger_value for w in states.values())
        assert set(states) == {"lr", "canvas-0"}
        s._reader.cancel()

    asyncio.run(asyncio.wait_for(scenario(), timeout=10))


def test_the_load_client_waits_for_its_rerun_when_the_last_runs_end_is_said_late():
    async def scenario():
        socket = FakeSocket()
        s = await connected(socket)
        stopped = ForwardMsg()
        stopped.session_status_changed.script_is_running = False
        socket.answer(new_session(), widget("button", "train", "Train"), finished())
        await s.open()
        socket.answer()                                  # the click's run comes later
        await s.click("Train")
        socket.incoming.put_nowait(stopped)              # the page load's run said ended after its script_finished
        await asyncio.sleep(0.1)
        waiting = asyncio.create_task(s.idle())
        await asyncio.sleep(0.1)
        assert not waiting.done()                        # the Train's run has not come yet
        for msg in (new_session(), widget("button", "train", "Train"), finished(), stopped):
            socket.incoming.put_nowait(msg)
        await asyncio.wait_for(waiting, 2)
        s._reader.cancel()

    asyncio.run(asyncio.wait_for(scenario(), timeout=10))
