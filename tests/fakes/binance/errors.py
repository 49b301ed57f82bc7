"""Binance error answers: `{"code": -NNNN, "msg": "..."}` with the HTTP status Binance uses.

Handlers raise `ApiError`; the server turns it into the response. The engine's rejections
(`engine.venue.errors.RequestRejected`) already carry Binance's code and message and map 1:1.
"""

from __future__ import annotations

from engine.venue.errors import RequestRejected

# Not a Binance code: the answer when a request is valid on Binance but the fake does not simulate what it
# asks for (LIMIT orders, hedge-mode orders ...). ccxt maps an unknown code to a plain ExchangeError whose
# message carries this text, so a test hitting a gap of the fake fails with the reason in plain words.
UNSUPPORTED = -9999


class ApiError(Exception):
    """An error answer. `json_body=False` sends `msg` as a plain text (HTML-like) body, as a proxy would."""

    def __init__(
        self,
        status: int,
        code: int,
        msg: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: bool = True,
    ) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.headers = dict(headers or {})
        self.json_body = json_body

    def payload(self) -> dict[str, int | str]:
        return {"code": self.code, "msg": self.msg}


def bad_request(code: int, msg: str) -> ApiError:
    return ApiError(400, code, msg)


def mandatory(name: str) -> ApiError:
    return bad_request(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def not_required(name: str) -> ApiError:
    return bad_request(-1106, f"Parameter '{name}' sent when not required.")


def illegal_value(name: str) -> ApiError:
    legal = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
    return bad_request(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def invalid_symbol() -> ApiError:
    return bad_request(-1121, "Invalid symbol.")


def order_does_not_exist() -> ApiError:
    return bad_request(-2013, "Order does not exist.")


def unknown_order() -> ApiError:
    return bad_request(-2011, "Unknown order sent.")


def unsupported(what: str) -> ApiError:
    return bad_request(UNSUPPORTED, f"fake Binance does not simulate {what}")


def from_rejection(exc: RequestRejected) -> ApiError:
    """The engine's rejection as Binance answers it (HTTP 400, same code and message)."""
    return bad_request(exc.code, exc.msg)
