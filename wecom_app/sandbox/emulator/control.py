"""The emulator's own control surface, outside /cgi-bin/: fault injection and the
call log over HTTP (for out-of-process users such as benchmarks), and a stand-in
for WeCom's OAuth authorize page (document/path/91022) that redirects with a
fresh code for a chosen member. Also the helpers that apply a fault."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Flask, Response, redirect, request

from wecom_app.sandbox.emulator.api import ApiError
from wecom_app.sandbox.faults import FaultError

ERROR_PAGES = {
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def apply_fault(state, fault: dict):
    """Run one fired fault; a response ends the call, None lets it continue."""
    kind = fault["kind"]
    if kind == "latency":
        state.stopping.wait(fault["seconds"])
        return None
    if kind == "http_error":
        return _html_error(fault["status"])
    if kind == "errcode":
        raise ApiError(fault["errcode"])
    if kind == "hang":
        # never answers in time; whatever the client does, the work was not done
        state.stopping.wait(fault["seconds"])
        return _html_error(504)
    if kind == "reset":
        request.environ["wecom_sandbox.reset"] = True
        return Response("", 200)
    return None


def _html_error(status: int) -> Response:
    title = ERROR_PAGES.get(status, f"{status} Error")
    page = f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    return Response(page, status, mimetype="text/html")


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_cursor(value) -> int:
    if not value:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))["o"]
    except (ValueError, KeyError, TypeError):
        raise ApiError(40058, "invalid cursor") from None
    if not isinstance(offset, int) or offset < 0:
        raise ApiError(40058, "invalid cursor")
    return offset


def agentid_param(state, value) -> None:
    if value in (None, ""):
        raise ApiError(40056)
    try:
        agentid = int(value)
    except ValueError:
        raise ApiError(40056) from None
    if agentid != state.agent_id:
        raise ApiError(301002)


def register(app: Flask, state) -> None:
    @app.post("/sandbox/faults")
    def add_fault():
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return {"error": "send a JSON object"}, 400
        try:
            fault = state.faults.add(data.get("path"), data.get("kind", "errcode"), count=data.get("count", 1),
                                     seconds=data.get("seconds"), status=int(data.get("status", 503)),
                                     errcode=int(data.get("errcode", -1)))
        except (FaultError, TypeError, ValueError) as exc:
            return {"error": str(exc)}, 422
        return fault, 201

    @app.get("/sandbox/faults")
    def list_faults():
        return {"faults": state.faults.list()}

    @app.delete("/sandbox/faults")
    def clear_faults():
        state.faults.clear()
        return "", 204

    @app.delete("/sandbox/faults/<int:fault_id>")
    def clear_fault(fault_id):
        state.faults.clear(fault_id)
        return "", 204

    @app.get("/sandbox/calls")
    def calls():
        """The call log (tokens redacted); ?path=message/send filters, ?summary=1 counts per path."""
        log = state.calls(request.args.get("path"))
        if request.args.get("summary"):
            counts: dict[str, int] = {}
            for call in log:
                counts[call["path"]] = counts.get(call["path"], 0) + 1
            return {"gettoken_calls": state.gettoken_calls, "calls": counts}
        return {"gettoken_calls": state.gettoken_calls, "calls": log}

    @app.get("/connect/oauth2/authorize")
    @app.get("/sandbox/oauth2/authorize")
    def authorize():
        """WeCom redirects to redirect_uri?code=CODE&state=STATE; here the member is `userid` (sandbox picker)."""
        userid, target = request.args.get("userid"), request.args.get("redirect_uri")
        if not userid or not target or state.user(userid) is None:
            return {"error": "give redirect_uri and the userid of a member"}, 400
        parts = urlsplit(target)
        query = parse_qsl(parts.query) + [("code", state.issue_oauth_code(userid)),
                                          ("state", request.args.get("state", ""))]
        return redirect(urlunsplit(parts._replace(query=urlencode(query))), 302)
