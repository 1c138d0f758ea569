"""Bybit v5 result codes and messages (protocols.md C.2; the venue's error table)."""

from __future__ import annotations


class BybitError(Exception):
    """A refused request, rendered as ``{"retCode": code, "retMsg": msg, ...}``.

    Bybit answers business errors with HTTP 200 and a non-zero ``retCode``; ``status``
    is kept for the few that come with another HTTP status.
    """

    def __init__(self, code: int, msg: str, status: int = 200) -> None:
        """``code`` is the retCode, ``msg`` the retMsg."""
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status


PARAM = 10001
TIMESTAMP = 10002
BAD_KEY = 10003
BAD_SIGN = 10004
RATE_LIMIT = 10006
SERVER_ERROR = 10016
NO_ORDER = 110001
BALANCE = 110007
FINISHED = 110008
DUP_LINK_ID = 110072
SPOT_BALANCE = 170131
SPOT_NO_ORDER = 170213
SPOT_DUP_LINK_ID = 170141


def param(detail: str) -> BybitError:
    """10001: a request parameter is missing or invalid."""
    return BybitError(PARAM, detail)


def bad_key() -> BybitError:
    """10003: the API key is not known."""
    return BybitError(
        BAD_KEY,
        "API key is invalid. Check whether the key and domain are matched, there are 4 env: "
        "mainnet, testnet, mainnet-demo, testnet-demo",
    )


def bad_sign() -> BybitError:
    """10004: the signature does not match."""
    return BybitError(BAD_SIGN, "Error sign, please check your signature generation algorithm.")


def no_order(spot: bool) -> BybitError:
    """The order is unknown or no longer open."""
    if spot:
        return BybitError(SPOT_NO_ORDER, "Order does not exist.")
    return BybitError(NO_ORDER, "order not exists or too late to cancel")


def duplicate_link_id(spot: bool) -> BybitError:
    """An orderLinkId that the account already used."""
    if spot:
        return BybitError(SPOT_DUP_LINK_ID, "Duplicate clientOrderId")
    return BybitError(DUP_LINK_ID, "OrderLinkedID is duplicate")


def insufficient(spot: bool) -> BybitError:
    """The account cannot fund the order."""
    if spot:
        return BybitError(SPOT_BALANCE, "Insufficient balance.")
    return BybitError(BALANCE, "Available balance is insufficient")
