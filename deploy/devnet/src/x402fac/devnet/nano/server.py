"""The devnet node: nano_node's RPC actions over HTTP (aiohttp), backed by the in-memory `Ledger`.

Responses copy the node's shapes: every number is a string, booleans are "true"/"false" (block_info
`confirmed`) or "1"/"0" flags, an empty list or map is the empty string (the node's property-tree JSON writer
does that), errors are `{"error": "<node message>"}` with HTTP 200.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from x402fac.nano import (
    AddressError,
    BlockError,
    StateBlock,
    WorkError,
    decode_address,
    encode_address,
    format_work,
    generate_work,
    parse_block,
    parse_hash,
    parse_threshold,
    parse_work,
    public_key,
    work_value,
)
from x402fac.nano.blocks import ZERO_HASH

from .ledger import WORK_LOW, BlockEntry, Ledger, ProcessError

INFO_FILE = "devnet-nano.json"
NETWORK = "nano:devnet"
DEFAULT_PORT = 7076
# Low thresholds so a client generates work in a few ms (mainnet: fffffff800000000 / fffffe0000000000).
DEFAULT_SEND_THRESHOLD = 0xFFF0000000000000  # ~4096 attempts
DEFAULT_RECEIVE_THRESHOLD = 0xFFC0000000000000  # ~1024 attempts
DEFAULT_CONFIRMATION_DELAY = 0.3
MAX_WORK_MULTIPLIER = 64  # nano_node's max_work_generate_multiplier
SUPPLY = 2**128 - 1
PAYER_BALANCE = 1_000 * 10**30  # 1000 XNO
VERSION = "x402fac nano devnet"

# nano_node RPC error strings (nano/lib/errors.cpp, json_handler.cpp).
UNKNOWN_COMMAND = "Unknown command"
UNABLE_TO_PARSE = "Unable to parse JSON"
ACCOUNT_NOT_FOUND = "Account not found"
BAD_ACCOUNT = "Bad account number"
BLOCK_NOT_FOUND = "Block not found"
BAD_HASH = "Bad hash number"
INVALID_BLOCK_HASH = "Invalid block hash"
INVALID_BLOCK = "Block is invalid"
BAD_WORK = "Bad work"
BAD_DIFFICULTY = "Bad difficulty"
BAD_THRESHOLD = "Bad threshold number"
INVALID_COUNT = "Invalid count"
INVALID_OFFSET = "Invalid offset"
DIFFICULTY_LIMIT = "Difficulty above config limit or below publish threshold"
ROOT_MISMATCH = "Root mismatch for block"
WORK_ENOUGH = "Provided work is already enough for given difficulty"
EMPTY_RESPONSE = "Empty response"


class RpcError(Exception):
    """An RPC answer of the form {"error": message}."""


def new_key() -> dict[str, str]:
    secret = os.urandom(32)
    public = public_key(secret)
    return {
        "account": encode_address(public),
        "publicKey": public.hex().upper(),
        "privateKey": secret.hex().upper(),
    }


def _flag(request: dict[str, Any], name: str, default: bool = False) -> bool:
    """A boolean option the way the node reads it (true/false, "true"/"false", "1"/"0")."""
    value = request.get(name, default)
    if isinstance(value, bool):
        return value
    if value in ("true", "1", 1):
        return True
    if value in ("false", "0", 0):
        return False
    raise RpcError(UNABLE_TO_PARSE)


def _empty_as_string(value: list | dict) -> list | dict | str:
    # The node's ptree writer renders an empty child as "".
    return value if value else ""


def _multiplier(difficulty: int, base: int) -> str:
    return f"{(2**64 - base) / (2**64 - difficulty):.15f}"


@dataclass
class NanoDevnet:
    """An RPC server over a fresh ledger: genesis holds the supply; `payers` accounts start opened and funded."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path | None = None
    send_threshold: int = DEFAULT_SEND_THRESHOLD
    receive_threshold: int = DEFAULT_RECEIVE_THRESHOLD
    confirmation_delay: float = DEFAULT_CONFIRMATION_DELAY
    payers: int = 3
    payer_balance: int = PAYER_BALANCE
    ledger: Ledger = field(init=False)
    genesis: dict[str, str] = field(init=False)
    payer_keys: list[dict[str, str]] = field(init=False, default_factory=list)
    info: dict[str, Any] = field(init=False, default_factory=dict)
    # `process` requests per block hash (hex): lets tests check that a payment was published exactly once.
    process_requests: Counter[str] = field(init=False, default_factory=Counter)
    _held: dict[bytes, list[bytes]] = field(init=False, default_factory=dict)
    _runner: web.AppRunner | None = field(init=False, default=None)
    _timers: set[asyncio.TimerHandle] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.send_threshold, self.receive_threshold)
        self.genesis = new_key()
        genesis_public = bytes.fromhex(self.genesis["publicKey"])
        genesis_secret = bytes.fromhex(self.genesis["privateKey"])
        block = StateBlock(genesis_public, ZERO_HASH, genesis_public, SUPPLY, genesis_public)
        block = block.signed(genesis_secret).with_work(generate_work(genesis_public, self.receive_threshold))
        self.ledger.insert_genesis(block)
        for _ in range(self.payers):
            key = new_key()
            self._fund_directly(bytes.fromhex(key["privateKey"]), self.payer_balance)
            self.payer_keys.append(key)
        self.handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "account_info": self.account_info,
            "account_balance": self.account_balance,
            "account_representative": self.account_representative,
            "block_info": self.block_info,
            "blocks_info": self.blocks_info,
            "block_account": self.block_account,
            "block_count": self.block_count,
            "block_confirm": self.block_confirm,
            "process": self.process,
            "receivable": self.receivable,
            "pending": self.pending,
            "work_validate": self.work_validate,
            "version": self.version,
            # Devnet controls (no real node has these): hold an account's blocks unconfirmed, then let them go.
            "devnet_hold_confirmations": self.devnet_hold_confirmations,
            "devnet_release_confirmations": self.devnet_release_confirmations,
        }

    # ----------------------------------------------------------------------------------------------------
    # Lifecycle

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def genesis_hash(self) -> bytes:
        return next(iter(self.ledger.blocks))

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/", self._handle)
        return app

    async def start(self) -> dict[str, Any]:
        """Listens on host:port (port 0 picks a free one), writes DATA_DIR/devnet-nano.json, returns the info."""
        self._runner = web.AppRunner(self.build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]
        self.info = {
            "network": NETWORK,
            "rpcUrl": self.rpc_url,
            "genesis": self.genesis,
            "genesisHash": self.genesis_hash.hex().upper(),
            "representative": self.genesis["account"],
            "workThresholds": {
                "send": format_work(self.send_threshold),
                "receive": format_work(self.receive_threshold),
            },
            "confirmationDelaySeconds": self.confirmation_delay,
            "payers": self.payer_keys,
            "pid": os.getpid(),
        }
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            partial = self.data_dir / (INFO_FILE + ".partial")
            partial.write_text(json.dumps(self.info, indent=2))
            partial.replace(self.data_dir / INFO_FILE)
        return self.info

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ----------------------------------------------------------------------------------------------------
    # HTTP

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            try:
                body = json.loads(await request.read())
            except (ValueError, UnicodeDecodeError):
                raise RpcError(UNABLE_TO_PARSE) from None
            if not isinstance(body, dict) or not isinstance(body.get("action"), str):
                raise RpcError(UNABLE_TO_PARSE)
            action = body["action"]
            if action == "work_generate":
                answer = await self.work_generate(body)
            else:
                handler = self.handlers.get(action)
                if handler is None:
                    raise RpcError(UNKNOWN_COMMAND)
                answer = handler(body)
        except RpcError as error:
            answer = {"error": str(error)}
        return web.Response(text=json.dumps(answer), content_type="application/json")

    # ----------------------------------------------------------------------------------------------------
    # Request parsing (node semantics)

    @staticmethod
    def _account(request: dict[str, Any], name: str = "account") -> bytes:
        try:
            return decode_address(request.get(name))
        except AddressError:
            if name not in request:
                raise RpcError(UNABLE_TO_PARSE) from None
            raise RpcError(BAD_ACCOUNT) from None

    @staticmethod
    def _hash(request: dict[str, Any], name: str = "hash") -> bytes:
        if name not in request:
            raise RpcError(UNABLE_TO_PARSE)
        try:
            return parse_hash(request[name])
        except BlockError:
            raise RpcError(INVALID_BLOCK_HASH) from None

    @staticmethod
    def _count(request: dict[str, Any], name: str, error: str, default: int) -> int:
        value = request.get(name, default)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise RpcError(error) from None
        if number < 0:
            raise RpcError(error)
        return number

    @staticmethod
    def _block(request: dict[str, Any]) -> StateBlock:
        if "block" not in request:
            raise RpcError(UNABLE_TO_PARSE)
        raw = request["block"]
        if not _flag(request, "json_block"):
            if not isinstance(raw, str):
                raise RpcError(INVALID_BLOCK)
            try:
                raw = json.loads(raw)
            except ValueError:
                raise RpcError(INVALID_BLOCK) from None
        try:
            return parse_block(raw)
        except BlockError:
            raise RpcError(INVALID_BLOCK) from None

    def _difficulty(self, request: dict[str, Any], default: int) -> int:
        if "difficulty" not in request:
            if "multiplier" in request:
                try:
                    multiplier = float(request["multiplier"])
                except (TypeError, ValueError):
                    raise RpcError("Bad multiplier") from None
                return 2**64 - int((2**64 - default) / multiplier)
            return default
        try:
            return parse_threshold(request["difficulty"])
        except WorkError:
            raise RpcError(BAD_DIFFICULTY) from None

    # ----------------------------------------------------------------------------------------------------
    # Actions

    def account_info(self, request: dict[str, Any]) -> dict[str, Any]:
        account_key = self._account(request)
        include_confirmed = _flag(request, "include_confirmed")
        with_representative = _flag(request, "representative")
        with_weight = _flag(request, "weight")
        with_receivable = _flag(request, "receivable", _flag(request, "pending"))
        account = self.ledger.accounts.get(account_key)
        if account is None:
            raise RpcError(ACCOUNT_NOT_FOUND)
        answer: dict[str, Any] = {
            "frontier": account.head.hex().upper(),
            "open_block": account.open_block.hex().upper(),
            "representative_block": account.head.hex().upper(),  # every state block names the representative
            "balance": str(account.balance),
        }
        if include_confirmed:
            answer["confirmed_balance"] = str(self.ledger.balance(account_key, confirmed_only=True))
        answer["modified_timestamp"] = str(account.modified)
        answer["block_count"] = str(account.block_count)
        answer["account_version"] = "0"
        confirmed_frontier = account.confirmed_frontier.hex().upper()
        if include_confirmed:
            answer["confirmed_height"] = str(account.confirmed_height)
            answer["confirmed_frontier"] = confirmed_frontier
        else:
            answer["confirmation_height"] = str(account.confirmed_height)
            answer["confirmation_height_frontier"] = confirmed_frontier
        if with_representative:
            answer["representative"] = encode_address(account.representative)
            if include_confirmed:
                confirmed_representative = ZERO_HASH
                if account.confirmed_height:
                    confirmed_representative = self.ledger.blocks[
                        account.confirmed_frontier
                    ].block.representative
                answer["confirmed_representative"] = encode_address(confirmed_representative)
        if with_weight:
            answer["weight"] = str(self._weight(account_key))
        if with_receivable:
            total = sum(
                info.amount for _, info in self.ledger.receivable_of(account_key, confirmed_only=False)
            )
            answer["pending"] = answer["receivable"] = str(total)
            if include_confirmed:
                confirmed = sum(
                    info.amount for _, info in self.ledger.receivable_of(account_key, confirmed_only=True)
                )
                answer["confirmed_pending"] = answer["confirmed_receivable"] = str(confirmed)
        return answer

    def _weight(self, representative: bytes) -> int:
        return sum(a.balance for a in self.ledger.accounts.values() if a.representative == representative)

    def account_balance(self, request: dict[str, Any]) -> dict[str, Any]:
        account_key = self._account(request)
        confirmed_only = _flag(request, "include_only_confirmed", True)
        balance = self.ledger.balance(account_key, confirmed_only)
        receivable = sum(info.amount for _, info in self.ledger.receivable_of(account_key, confirmed_only))
        return {"balance": str(balance), "pending": str(receivable), "receivable": str(receivable)}

    def account_representative(self, request: dict[str, Any]) -> dict[str, Any]:
        account = self.ledger.accounts.get(self._account(request))
        if account is None:
            raise RpcError(ACCOUNT_NOT_FOUND)
        return {"representative": encode_address(account.representative)}

    def _block_entry(self, entry: BlockEntry, json_block: bool) -> dict[str, Any]:
        contents = entry.block.to_json()
        return {
            "block_account": contents["account"],
            "amount": str(entry.amount),
            "balance": str(entry.block.balance),
            "height": str(entry.height),
            "local_timestamp": str(entry.timestamp),
            "successor": entry.successor.hex().upper(),
            "confirmed": "true" if entry.confirmed else "false",
            "contents": contents if json_block else json.dumps(contents, indent=4),
            "subtype": entry.subtype,
        }

    def block_info(self, request: dict[str, Any]) -> dict[str, Any]:
        entry = self.ledger.blocks.get(self._hash(request))
        if entry is None:
            raise RpcError(BLOCK_NOT_FOUND)
        return self._block_entry(entry, _flag(request, "json_block"))

    def blocks_info(self, request: dict[str, Any]) -> dict[str, Any]:
        json_block = _flag(request, "json_block")
        with_receivable = _flag(request, "receivable", _flag(request, "pending"))
        receive_hash = _flag(request, "receive_hash")
        with_source = _flag(request, "source")
        include_not_found = _flag(request, "include_not_found")
        hashes = request.get("hashes")
        if not isinstance(hashes, list):
            raise RpcError(UNABLE_TO_PARSE)
        blocks: dict[str, Any] = {}
        not_found: list[str] = []
        for text in hashes:
            try:
                block_hash = parse_hash(text)
            except BlockError:
                raise RpcError(BAD_HASH) from None
            entry = self.ledger.blocks.get(block_hash)
            if entry is None:
                if not include_not_found:
                    raise RpcError(BLOCK_NOT_FOUND)
                not_found.append(text)
                continue
            item = self._block_entry(entry, json_block)
            is_send = entry.subtype == "send"
            still_receivable = is_send and block_hash in self.ledger.receivable.get(entry.block.link, {})
            if with_receivable:
                item["pending"] = item["receivable"] = "1" if still_receivable else "0"
            if receive_hash:
                received = self.ledger.received_by.get(block_hash, ZERO_HASH) if is_send else ZERO_HASH
                item["receive_hash"] = received.hex().upper()
            if with_source:
                source = entry.block.link if entry.subtype in ("open", "receive") else None
                source_entry = self.ledger.blocks.get(source) if source else None
                item["source_account"] = (
                    encode_address(source_entry.block.account) if source_entry is not None else "0"
                )
            blocks[text] = item
        answer: dict[str, Any] = {"blocks": _empty_as_string(blocks)}
        if include_not_found:
            answer["blocks_not_found"] = _empty_as_string(not_found)
        return answer

    def block_account(self, request: dict[str, Any]) -> dict[str, Any]:
        entry = self.ledger.blocks.get(self._hash(request))
        if entry is None:
            raise RpcError(BLOCK_NOT_FOUND)
        return {"account": encode_address(entry.block.account)}

    def block_count(self, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "count": str(len(self.ledger.blocks)),
            "unchecked": "0",
            "cemented": str(self.ledger.cemented),
        }

    def block_confirm(self, request: dict[str, Any]) -> dict[str, Any]:
        block_hash = self._hash(request)
        entry = self.ledger.blocks.get(block_hash)
        if entry is None:
            raise RpcError(BLOCK_NOT_FOUND)
        if not entry.confirmed and entry.block.account not in self._held:
            self.ledger.confirm(block_hash)
        return {"started": "1"}

    def process(self, request: dict[str, Any]) -> dict[str, Any]:
        is_async = _flag(request, "async")
        block = self._block(request)
        self.process_requests[block.hash.hex().upper()] += 1
        subtype = request.get("subtype", "")
        try:
            if subtype:
                self.ledger.check_subtype(block, str(subtype))
            if work_value(block.work, block.root) < self.ledger.entry_threshold:
                raise RpcError(WORK_LOW)
            if is_async:
                try:
                    self._process_and_schedule(block)
                except ProcessError:
                    pass  # the real node drops it silently too
                return {"started": "1"}
            entry = self._process_and_schedule(block)
        except ProcessError as error:
            raise RpcError(str(error)) from None
        return {"hash": entry.hash.hex().upper()}

    def _process_and_schedule(self, block: StateBlock) -> BlockEntry:
        entry = self.ledger.process(block)
        held = self._held.get(block.account)
        if held is not None:
            held.append(entry.hash)
        else:
            self._schedule_confirmation(entry.hash)
        return entry

    def _schedule_confirmation(self, block_hash: bytes) -> None:
        if self.confirmation_delay <= 0:
            self.ledger.confirm(block_hash)
            return
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None

        def fire() -> None:
            self._timers.discard(timer)  # type: ignore[arg-type]
            entry = self.ledger.blocks.get(block_hash)
            if entry is not None and entry.block.account not in self._held:
                self.ledger.confirm(block_hash)

        timer = loop.call_later(self.confirmation_delay, fire)
        self._timers.add(timer)

    def receivable(self, request: dict[str, Any]) -> dict[str, Any]:
        account_key = self._account(request)
        count = self._count(request, "count", INVALID_COUNT, 2**64 - 1)
        offset = self._count(request, "offset", INVALID_OFFSET, 0)
        threshold_text = request.get("threshold")
        threshold = 0
        if threshold_text is not None:
            try:
                threshold = int(str(threshold_text))
            except ValueError:
                raise RpcError(BAD_THRESHOLD) from None
        with_source = _flag(request, "source")
        min_version = _flag(request, "min_version")
        sorting = _flag(request, "sorting")
        confirmed_only = _flag(request, "include_only_confirmed", True)
        simple = threshold == 0 and not with_source and not min_version and not sorting
        pending = [
            (send_hash, info)
            for send_hash, info in self.ledger.receivable_of(account_key, confirmed_only)
            if info.amount >= threshold
        ]
        if sorting and not simple:
            pending.sort(key=lambda item: item[1].amount, reverse=True)
        pending = pending[offset : offset + count]
        if simple:
            return {"blocks": _empty_as_string([send_hash.hex().upper() for send_hash, _ in pending])}
        blocks: dict[str, Any] = {}
        for send_hash, info in pending:
            if with_source or min_version:
                item = {"amount": str(info.amount)}
                if with_source:
                    item["source"] = encode_address(info.source)
                if min_version:
                    item["min_version"] = "0"
                blocks[send_hash.hex().upper()] = item
            else:
                blocks[send_hash.hex().upper()] = str(info.amount)
        return {"blocks": _empty_as_string(blocks)}

    def pending(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"deprecated": "1", **self.receivable(request)}

    def work_validate(self, request: dict[str, Any]) -> dict[str, Any]:
        root = self._hash(request)
        try:
            work = parse_work(request.get("work", "0"))
        except WorkError:
            raise RpcError(BAD_WORK) from None
        difficulty = self._difficulty(request, self.ledger.send_threshold)
        value = work_value(work, root)
        answer: dict[str, Any] = {}
        if "difficulty" in request or "multiplier" in request:
            answer["valid"] = "1" if value >= difficulty else "0"
        answer["valid_all"] = "1" if value >= self.ledger.send_threshold else "0"
        answer["valid_receive"] = "1" if value >= self.ledger.receive_threshold else "0"
        answer["difficulty"] = format_work(value)
        answer["multiplier"] = _multiplier(value, self.ledger.send_threshold)
        return answer

    async def work_generate(self, request: dict[str, Any]) -> dict[str, Any]:
        root = self._hash(request)
        difficulty = self._difficulty(request, self.ledger.send_threshold)
        ceiling = 2**64 - (2**64 - self.ledger.send_threshold) // MAX_WORK_MULTIPLIER
        if difficulty > ceiling or difficulty < self.ledger.entry_threshold:
            raise RpcError(DIFFICULTY_LIMIT)
        if "block" in request:
            block = self._block(request)
            if block.root != root:
                raise RpcError(ROOT_MISMATCH)
            if work_value(block.work, root) >= difficulty:
                raise RpcError(WORK_ENOUGH)
        work = await asyncio.to_thread(generate_work, root, difficulty)
        value = work_value(work, root)
        return {
            "hash": root.hex().upper(),
            "work": format_work(work),
            "difficulty": format_work(value),
            "multiplier": _multiplier(value, self.ledger.send_threshold),
        }

    def version(self, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "rpc_version": "1",
            "store_version": "24",
            "protocol_version": "21",
            "node_vendor": VERSION,
            "store_vendor": "in-memory",
            "network": "dev",
            "network_identifier": self.genesis_hash.hex().upper(),
            "build_info": "x402fac",
        }

    def devnet_hold_confirmations(self, request: dict[str, Any]) -> dict[str, Any]:
        self._held.setdefault(self._account(request), [])
        return {"success": ""}

    def devnet_release_confirmations(self, request: dict[str, Any]) -> dict[str, Any]:
        for block_hash in self._held.pop(self._account(request), []):
            self._schedule_confirmation(block_hash)
        return {"success": ""}

    # ----------------------------------------------------------------------------------------------------
    # Direct funding at start-up (through the ledger's checks, confirmed at once)

    def _fund_directly(self, secret: bytes, amount: int) -> None:
        genesis_public = bytes.fromhex(self.genesis["publicKey"])
        genesis_secret = bytes.fromhex(self.genesis["privateKey"])
        genesis = self.ledger.accounts[genesis_public]
        destination = public_key(secret)
        send = StateBlock(genesis_public, genesis.head, genesis_public, genesis.balance - amount, destination)
        send = send.signed(genesis_secret).with_work(generate_work(genesis.head, self.send_threshold))
        send_hash = self.ledger.process(send).hash
        open_block = StateBlock(destination, ZERO_HASH, genesis_public, amount, send_hash)
        open_block = open_block.signed(secret).with_work(generate_work(destination, self.receive_threshold))
        self.ledger.confirm(self.ledger.process(open_block).hash)
