"""Solana JSON-RPC 2.0 over HTTP (aiohttp), answering with agave's JSON shapes and error objects."""

import base64
import binascii
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from solders.hash import Hash
from solders.message import Message, MessageV0, from_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from x402fac.solana import fee_lamports

from .chain import Chain, Execution, Landed, TransactionError
from .codec import (
    RENT_EPOCH_EXEMPT,
    TOKEN_PROGRAMS,
    b58decode,
    b58encode,
    b64,
    parse_token_data,
    token_account_fields,
    token_account_kind,
    transaction_error_text,
    ui_token_amount,
)

log = logging.getLogger(__name__)

# The real devnet genesis hash; CAIP-2 ids carry its first 32 characters.
DEVNET_GENESIS_HASH = "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"
SOLANA_CORE_VERSION = "2.2.16"
FEATURE_SET = 3294202862
PACKET_DATA_SIZE = 1232
MAX_BASE58_SIZE = 1683
MAX_BASE64_SIZE = 1644
MAX_BASE58_ACCOUNT_BYTES = 128
MAX_MULTIPLE_ACCOUNTS = 100
MAX_SIGNATURE_STATUSES = 256
TRANSACTION_TYPE = "solana_transaction::versioned::VersionedTransaction"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
PREFLIGHT_FAILURE = -32002
SIGNATURE_VERIFICATION_FAILURE = -32003
UNSUPPORTED_TRANSACTION_VERSION = -32015
MIN_CONTEXT_SLOT_NOT_REACHED = -32016


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)


def _param(params: list[Any], index: int) -> Any:
    if index >= len(params):
        raise invalid_params(f"Invalid params: invalid length {len(params)}, expected at least {index + 1}.")
    return params[index]


def _sequence(params: list[Any], index: int, most: int) -> list[Any]:
    """A parameter that lists at most `most` inputs (getMultipleAccounts' keys, getSignatureStatuses')."""
    values = _param(params, index)
    if not isinstance(values, list):
        raise invalid_params("Invalid params: invalid type: expected a sequence.")
    if len(values) > most:
        raise invalid_params(f"Too many inputs provided; max {most}")
    return values


def _config(params: list[Any], index: int) -> dict[str, Any]:
    value = params[index] if index < len(params) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_params("Invalid params: invalid type: expected a config object.")
    return value


def _pubkey(value: Any) -> Pubkey:
    if not isinstance(value, str):
        raise invalid_params("Invalid param: Invalid")
    try:
        return Pubkey.from_string(value)
    except ValueError:
        try:
            size = len(b58decode(value))
        except ValueError:
            size = 0
        raise invalid_params(f"Invalid param: {'WrongSize' if size and size != 32 else 'Invalid'}") from None


def _signature(value: Any) -> Signature:
    try:
        return Signature.from_string(value)
    except (ValueError, TypeError):
        raise invalid_params("Invalid param: Invalid") from None


def _hash(value: Any) -> Hash:
    try:
        return Hash.from_string(value)
    except (ValueError, TypeError):
        raise invalid_params("Invalid param: Invalid") from None


def _with_blockhash(tx: VersionedTransaction, blockhash: Hash) -> VersionedTransaction:
    message = tx.message
    if isinstance(message, MessageV0):
        replaced: Message | MessageV0 = MessageV0(
            message.header,
            message.account_keys,
            blockhash,
            message.instructions,
            message.address_table_lookups,
        )
    else:
        header = message.header
        replaced = Message.new_with_compiled_instructions(
            header.num_required_signatures,
            header.num_readonly_signed_accounts,
            header.num_readonly_unsigned_accounts,
            message.account_keys,
            blockhash,
            message.instructions,
        )
    return VersionedTransaction.populate(replaced, tx.signatures)


class SolanaRpc:
    """Method handlers over one `Chain`; `app()` serves them on POST /."""

    def __init__(self, chain: Chain, genesis_hash: str = DEVNET_GENESIS_HASH, identity: str = "") -> None:
        self.chain = chain
        self.genesis_hash = genesis_hash
        self.identity = identity or str(chain.bank.pubkey())
        self.methods: dict[str, Callable[[list[Any]], Any]] = {
            "getAccountInfo": self.get_account_info,
            "getBalance": self.get_balance,
            "getBlockHeight": lambda params: self.chain.block_height,
            "getEpochInfo": self.get_epoch_info,
            "getFeeForMessage": self.get_fee_for_message,
            "getGenesisHash": lambda params: self.genesis_hash,
            "getHealth": lambda params: "ok",
            "getIdentity": lambda params: {"identity": self.identity},
            "getLatestBlockhash": self.get_latest_blockhash,
            "getMinimumBalanceForRentExemption": self.get_minimum_balance_for_rent_exemption,
            "getMultipleAccounts": self.get_multiple_accounts,
            "getRecentPrioritizationFees": self.get_recent_prioritization_fees,
            "getSignatureStatuses": self.get_signature_statuses,
            "getSlot": lambda params: self.chain.slot,
            "getTokenAccountBalance": self.get_token_account_balance,
            "getTokenAccountsByOwner": self.get_token_accounts_by_owner,
            "getTokenSupply": self.get_token_supply,
            "getTransaction": self.get_transaction,
            "getTransactionCount": lambda params: self.chain.transaction_count,
            "getVersion": lambda params: {"feature-set": FEATURE_SET, "solana-core": SOLANA_CORE_VERSION},
            "isBlockhashValid": self.is_blockhash_valid,
            "requestAirdrop": self.request_airdrop,
            "sendTransaction": self.send_transaction,
            "simulateTransaction": self.simulate_transaction,
        }

    # ---- plumbing ----

    def context(self) -> dict[str, Any]:
        return {"apiVersion": SOLANA_CORE_VERSION, "slot": self.chain.slot}

    def _with_context(self, value: Any) -> dict[str, Any]:
        return {"context": self.context(), "value": value}

    def _check_min_context_slot(self, config: dict[str, Any]) -> None:
        wanted = config.get("minContextSlot")
        if wanted is not None and wanted > self.chain.slot:
            raise RpcError(
                MIN_CONTEXT_SLOT_NOT_REACHED,
                "Minimum context slot has not been reached",
                {"contextSlot": self.chain.slot},
            )

    def call(self, request: Any) -> dict[str, Any] | None:
        """One JSON-RPC request object -> its response object (None for a notification)."""
        if (
            not isinstance(request, dict)
            or request.get("jsonrpc") != "2.0"
            or not isinstance(request.get("method"), str)
        ):
            return {
                "jsonrpc": "2.0",
                "error": {"code": INVALID_REQUEST, "message": "Invalid request"},
                "id": None,
            }
        request_id = request.get("id")
        params = request.get("params", [])
        method = self.methods.get(request["method"])
        try:
            if method is None:
                raise RpcError(METHOD_NOT_FOUND, "Method not found")
            if not isinstance(params, list):
                raise invalid_params("Invalid params: expected an array of parameters.")
            result = method(params)
        except RpcError as error:
            response = {"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}
        except (TypeError, ValueError, KeyError) as error:  # params of the wrong shape
            response = {
                "jsonrpc": "2.0",
                "error": invalid_params(f"Invalid params: {error}").to_json(),
                "id": request_id,
            }
        except Exception:
            log.exception("%s failed", request["method"])
            response = {
                "jsonrpc": "2.0",
                "error": {"code": INTERNAL_ERROR, "message": "Internal error"},
                "id": request_id,
            }
        else:
            response = {"jsonrpc": "2.0", "result": result, "id": request_id}
        return response if "id" in request else None

    async def handle_http(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
            error = {"jsonrpc": "2.0", "error": {"code": PARSE_ERROR, "message": "Parse error"}, "id": None}
            return web.json_response(error)
        if isinstance(body, list):
            if not body:
                return web.json_response(self.call(None))
            responses = [r for r in (self.call(item) for item in body) if r is not None]
            return web.json_response(responses)
        response = self.call(body)
        return web.json_response(response) if response is not None else web.Response(status=200)

    async def handle_health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    def app(self) -> web.Application:
        application = web.Application(client_max_size=4 * 1024 * 1024)
        application.router.add_post("/", self.handle_http)
        application.router.add_get("/health", self.handle_health)
        return application

    # ---- accounts ----

    def encode_account(
        self, account, encoding: str, data_slice: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        data = bytes(account.data)
        owner = str(account.owner)
        rendered: Any = None
        if encoding == "jsonParsed":
            rendered = parse_token_data(owner, data, self.chain.decimals_of)
            if rendered is None:
                encoding = "base64"  # what agave does for data it cannot parse
        if rendered is None:
            if data_slice:
                offset, length = int(data_slice.get("offset", 0)), int(data_slice.get("length", 0))
                data = data[offset : offset + length]
            if encoding in ("binary", "base58"):
                if len(data) > MAX_BASE58_ACCOUNT_BYTES:
                    raise RpcError(
                        INVALID_REQUEST,
                        "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding.",
                    )
                rendered = b58encode(data) if encoding == "binary" else [b58encode(data), "base58"]
            elif encoding == "base64":
                rendered = [b64(data), "base64"]
            elif encoding == "base64+zstd":
                raise invalid_params("Invalid params: base64+zstd is not supported by this devnet.")
            else:
                raise invalid_params(
                    f"Invalid params: unknown variant `{encoding}`, expected one of `binary`, `base58`, "
                    "`base64`, `jsonParsed`, `base64+zstd`."
                )
        return {
            "data": rendered,
            "executable": account.executable,
            "lamports": account.lamports,
            "owner": owner,
            "rentEpoch": RENT_EPOCH_EXEMPT,
            "space": len(bytes(account.data)),
        }

    def _encoded_or_none(self, key: Pubkey, config: dict[str, Any], default: str) -> dict[str, Any] | None:
        account = self.chain.account(key)
        if account is None:
            return None
        return self.encode_account(account, config.get("encoding") or default, config.get("dataSlice"))

    def get_account_info(self, params: list[Any]) -> dict[str, Any]:
        key = _pubkey(_param(params, 0))
        config = _config(params, 1)
        self._check_min_context_slot(config)
        return self._with_context(self._encoded_or_none(key, config, "binary"))

    def get_multiple_accounts(self, params: list[Any]) -> dict[str, Any]:
        keys = _sequence(params, 0, MAX_MULTIPLE_ACCOUNTS)
        config = _config(params, 1)
        self._check_min_context_slot(config)
        pubkeys = [_pubkey(k) for k in keys]
        return self._with_context([self._encoded_or_none(k, config, "base64") for k in pubkeys])

    def get_balance(self, params: list[Any]) -> dict[str, Any]:
        key = _pubkey(_param(params, 0))
        self._check_min_context_slot(_config(params, 1))
        return self._with_context(self.chain.svm.get_balance(key) or 0)

    def get_minimum_balance_for_rent_exemption(self, params: list[Any]) -> int:
        size = _param(params, 0)
        if not isinstance(size, int) or size < 0:
            raise invalid_params("Invalid params: invalid type: expected usize.")
        return self.chain.svm.minimum_balance_for_rent_exemption(size)

    def _token_account(self, key: Pubkey) -> tuple[str, str, int, int]:
        account = self.chain.account(key)
        if account is None:
            raise invalid_params("Invalid param: could not find account")
        data = bytes(account.data)
        if token_account_kind(str(account.owner), data) != "account":
            raise invalid_params("Invalid param: not a Token account")
        mint, owner, amount = token_account_fields(data)
        decimals = self.chain.decimals_of(mint)
        if decimals is None:
            raise invalid_params("Invalid param: could not find mint")
        return mint, owner, amount, decimals

    def get_token_account_balance(self, params: list[Any]) -> dict[str, Any]:
        _, _, amount, decimals = self._token_account(_pubkey(_param(params, 0)))
        return self._with_context(ui_token_amount(amount, decimals))

    def get_token_supply(self, params: list[Any]) -> dict[str, Any]:
        key = _pubkey(_param(params, 0))
        account = self.chain.account(key)
        data = bytes(account.data) if account is not None else b""
        if account is None or token_account_kind(str(account.owner), data) != "mint":
            raise invalid_params("Invalid param: not a Token mint")
        return self._with_context(ui_token_amount(int.from_bytes(data[36:44], "little"), data[44]))

    def get_token_accounts_by_owner(self, params: list[Any]) -> dict[str, Any]:
        owner = _pubkey(_param(params, 0))
        selector = _param(params, 1)
        config = _config(params, 2)
        self._check_min_context_slot(config)
        if not isinstance(selector, dict):
            raise invalid_params('Invalid params: expected {"mint": ...} or {"programId": ...}.')
        mint: str | None = None
        if "mint" in selector:
            mint_key = _pubkey(selector["mint"])
            mint_account = self.chain.account(mint_key)
            if mint_account is None or str(mint_account.owner) not in TOKEN_PROGRAMS:
                raise invalid_params("Invalid param: could not find mint")
            mint, program = str(mint_key), str(mint_account.owner)
        elif "programId" in selector:
            program = str(_pubkey(selector["programId"]))
            if program not in TOKEN_PROGRAMS:
                raise invalid_params("Invalid param: unrecognized Token program id")
        else:
            raise invalid_params('Invalid params: expected {"mint": ...} or {"programId": ...}.')
        found = []
        for address in sorted(self.chain.token_accounts_by_owner.get(str(owner), ())):
            account = self.chain.account(Pubkey.from_string(address))
            if account is None or str(account.owner) != program:
                continue
            if mint is not None and token_account_fields(bytes(account.data))[0] != mint:
                continue
            encoded = self.encode_account(
                account, config.get("encoding") or "binary", config.get("dataSlice")
            )
            found.append({"pubkey": address, "account": encoded})
        return self._with_context(found)

    # ---- cluster ----

    def get_latest_blockhash(self, params: list[Any]) -> dict[str, Any]:
        self._check_min_context_slot(_config(params, 0))
        blockhash = self.chain.latest_blockhash
        return self._with_context(
            {
                "blockhash": str(blockhash),
                "lastValidBlockHeight": self.chain.last_valid_block_height(blockhash),
            }
        )

    def is_blockhash_valid(self, params: list[Any]) -> dict[str, Any]:
        blockhash = _hash(_param(params, 0))
        self._check_min_context_slot(_config(params, 1))
        return self._with_context(self.chain.is_blockhash_valid(blockhash))

    def get_fee_for_message(self, params: list[Any]) -> dict[str, Any]:
        encoded = _param(params, 0)
        self._check_min_context_slot(_config(params, 1))
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, TypeError) as error:
            raise invalid_params(f"invalid base64 encoding: {error}") from None
        try:
            message = from_bytes_versioned(raw)
        except ValueError as error:
            raise invalid_params(f"failed to deserialize solana_message::VersionedMessage: {error}") from None
        if not self.chain.is_blockhash_valid(message.recent_blockhash):
            return self._with_context(None)
        return self._with_context(fee_lamports(message))

    def get_epoch_info(self, params: list[Any]) -> dict[str, Any]:
        slots_per_epoch = self.chain.svm.get_epoch_schedule().slots_per_epoch
        slot = self.chain.slot
        return {
            "absoluteSlot": slot,
            "blockHeight": self.chain.block_height,
            "epoch": slot // slots_per_epoch,
            "slotIndex": slot % slots_per_epoch,
            "slotsInEpoch": slots_per_epoch,
            "transactionCount": self.chain.transaction_count,
        }

    def get_recent_prioritization_fees(self, params: list[Any]) -> list[dict[str, int]]:
        first = max(self.chain.slot - 149, 0)
        return [{"prioritizationFee": 0, "slot": slot} for slot in range(first, self.chain.slot + 1)]

    def request_airdrop(self, params: list[Any]) -> str:
        key = _pubkey(_param(params, 0))
        lamports = _param(params, 1)
        if not isinstance(lamports, int) or lamports <= 0:
            raise invalid_params("Invalid params: invalid type: expected u64.")
        try:
            return self.chain.airdrop(key, lamports).signature
        except TransactionError as error:
            raise RpcError(INTERNAL_ERROR, f"airdrop failed: {transaction_error_text(error.err)}") from None

    # ---- transactions ----

    def decode_transaction(self, encoded: Any, encoding: str | None) -> tuple[bytes, VersionedTransaction]:
        encoding = encoding or "base58"
        if not isinstance(encoded, str):
            raise invalid_params("Invalid params: invalid type: expected a string.")
        if encoding == "base58":
            if len(encoded) > MAX_BASE58_SIZE:
                raise invalid_params(
                    f"base58 encoded {TRANSACTION_TYPE} too large: {len(encoded)} bytes "
                    f"(max: encoded/raw {MAX_BASE58_SIZE}/{PACKET_DATA_SIZE})"
                )
            try:
                wire = b58decode(encoded)
            except ValueError as error:
                raise invalid_params(f"invalid base58 encoding: {error}") from None
        elif encoding == "base64":
            if len(encoded) > MAX_BASE64_SIZE:
                raise invalid_params(
                    f"base64 encoded {TRANSACTION_TYPE} too large: {len(encoded)} bytes "
                    f"(max: encoded/raw {MAX_BASE64_SIZE}/{PACKET_DATA_SIZE})"
                )
            try:
                wire = base64.b64decode(encoded, validate=True)
            except binascii.Error as error:
                raise invalid_params(f"invalid base64 encoding: {error}") from None
        else:
            raise invalid_params(f"unsupported encoding: {encoding}. Supported encodings: base58, base64")
        if len(wire) > PACKET_DATA_SIZE:
            raise invalid_params(
                f"decoded {TRANSACTION_TYPE} too large: {len(wire)} bytes (max: {PACKET_DATA_SIZE} bytes)"
            )
        try:
            tx = VersionedTransaction.from_bytes(wire)
        except ValueError as error:
            raise invalid_params(f"failed to deserialize {TRANSACTION_TYPE}: {error}") from None
        try:
            tx.sanitize()
        except Exception:
            raise invalid_params(
                "invalid transaction: Transaction failed to sanitize accounts offsets correctly"
            ) from None
        try:
            self.chain.loaded_addresses(tx.message)
        except TransactionError as error:
            raise invalid_params(f"invalid transaction: {transaction_error_text(error.err)}") from None
        return wire, tx

    def _simulation_value(
        self,
        execution: Execution,
        *,
        accounts: list[Any] | None = None,
        inner: bool = False,
        replacement: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "err": execution.err,
            "logs": execution.logs,
            "accounts": accounts,
            "unitsConsumed": execution.units,
            "loadedAccountsDataSize": None,
            "returnData": execution.return_data,
            "innerInstructions": execution.inner_instructions if inner else None,
            "replacementBlockhash": replacement,
            "fee": execution.fee if execution.err is None else None,
            "preBalances": None,
            "postBalances": None,
            "preTokenBalances": None,
            "postTokenBalances": None,
            "loadedAddresses": None,
        }

    def send_transaction(self, params: list[Any]) -> str:
        config = _config(params, 1)
        wire, tx = self.decode_transaction(_param(params, 0), config.get("encoding"))
        self._check_min_context_slot(config)
        if not config.get("skipPreflight", False):
            if not all(tx.verify_with_results()):
                raise RpcError(SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure")
            execution = self.chain.simulate(tx)
            if execution.err is not None:
                raise RpcError(
                    PREFLIGHT_FAILURE,
                    f"Transaction simulation failed: {transaction_error_text(execution.err)}",
                    self._simulation_value(execution),
                )
        if self.chain.drop_transactions:
            return str(tx.signatures[0])
        try:
            self.chain.process(tx, wire)
        except TransactionError:
            pass  # dropped by the leader, as on a cluster: the signature never gets a status
        return str(tx.signatures[0])

    def simulate_transaction(self, params: list[Any]) -> dict[str, Any]:
        config = _config(params, 1)
        sig_verify = bool(config.get("sigVerify", False))
        replace = bool(config.get("replaceRecentBlockhash", False))
        if sig_verify and replace:
            raise invalid_params("sigVerify may not be used with replaceRecentBlockhash")
        _, tx = self.decode_transaction(_param(params, 0), config.get("encoding"))
        self._check_min_context_slot(config)
        if sig_verify and not all(tx.verify_with_results()):
            raise RpcError(SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure")
        replacement = None
        if replace:
            blockhash = self.chain.latest_blockhash
            tx = _with_blockhash(tx, blockhash)
            replacement = {
                "blockhash": str(blockhash),
                "lastValidBlockHeight": self.chain.last_valid_block_height(blockhash),
            }
        execution = self.chain.simulate(tx, check_blockhash=not replace)
        accounts = None
        wanted = config.get("accounts")
        if wanted:
            encoding = wanted.get("encoding") or "base64"
            if encoding in ("binary", "base58"):
                raise invalid_params("base58 encoding not supported")
            addresses = [_pubkey(a) for a in wanted.get("addresses", [])]
            limit = len(tx.message.account_keys) + sum(
                len(bytes(lookup.writable_indexes)) + len(bytes(lookup.readonly_indexes))
                for lookup in getattr(tx.message, "address_table_lookups", [])
            )
            if len(addresses) > limit:
                raise invalid_params(f"Too many accounts provided; max {limit}")
            accounts = []
            for key in addresses:
                account = execution.post_accounts.get(key) or self.chain.account(key)
                accounts.append(None if account is None else self.encode_account(account, encoding))
        return self._with_context(
            self._simulation_value(
                execution,
                accounts=accounts,
                inner=bool(config.get("innerInstructions", False)),
                replacement=replacement,
            )
        )

    def get_signature_statuses(self, params: list[Any]) -> dict[str, Any]:
        signatures = _sequence(params, 0, MAX_SIGNATURE_STATUSES)
        return self._with_context([self.chain.signature_status(str(_signature(s))) for s in signatures])

    def get_transaction(self, params: list[Any]) -> dict[str, Any] | None:
        signature = str(_signature(_param(params, 0)))
        raw_config = params[1] if len(params) > 1 else None
        config = {"encoding": raw_config} if isinstance(raw_config, str) else _config(params, 1)
        commitment = config.get("commitment") or "finalized"
        if commitment == "processed":
            raise invalid_params("Method does not support commitment below `confirmed`")
        landed = self.chain.history.get(signature)
        if landed is None:
            return None
        level = self.chain.commitment_of(landed)
        if level == "processed" or (commitment == "finalized" and level != "finalized"):
            return None
        max_version = config.get("maxSupportedTransactionVersion")
        version: int | str = "legacy" if isinstance(landed.transaction.message, Message) else 0
        if version == 0 and max_version is None:
            raise RpcError(
                UNSUPPORTED_TRANSACTION_VERSION,
                "Transaction version (0) is not supported by the requesting client. Please try the request "
                'again with the following configuration parameter: "maxSupportedTransactionVersion": 0',
            )
        encoding = config.get("encoding") or "json"
        result: dict[str, Any] = {
            "slot": landed.slot,
            "blockTime": landed.block_time,
            "meta": self._transaction_meta(landed, parsed=encoding == "jsonParsed"),
            "transaction": self._encode_transaction(landed, encoding),
        }
        if max_version is not None:
            result["version"] = version
        return result

    def _transaction_meta(self, landed: Landed, *, parsed: bool) -> dict[str, Any]:
        execution = landed.execution
        meta: dict[str, Any] = {
            "err": execution.err,
            "status": {"Ok": None} if execution.err is None else {"Err": execution.err},
            "fee": execution.fee,
            "preBalances": landed.pre_balances,
            "postBalances": landed.post_balances,
            "innerInstructions": execution.inner_instructions,
            "logMessages": execution.logs,
            "preTokenBalances": landed.pre_token_balances,
            "postTokenBalances": landed.post_token_balances,
            "rewards": [],
            "computeUnitsConsumed": execution.units,
        }
        if not parsed:
            meta["loadedAddresses"] = {"writable": landed.loaded_writable, "readonly": landed.loaded_readonly}
        if execution.return_data is not None:
            meta["returnData"] = execution.return_data
        return meta

    def _encode_transaction(self, landed: Landed, encoding: str) -> Any:
        if encoding == "base64":
            return [b64(landed.wire), "base64"]
        if encoding == "base58":
            return [b58encode(landed.wire), "base58"]
        if encoding not in ("json", "jsonParsed"):
            raise invalid_params(
                f"Invalid params: unknown variant `{encoding}`, expected one of `binary`, `base64`, "
                "`base58`, `json`, `jsonParsed`."
            )
        tx = landed.transaction
        message = tx.message
        keys = [str(k) for k in message.account_keys]
        header = message.header
        rendered: dict[str, Any] = {
            "header": {
                "numRequiredSignatures": header.num_required_signatures,
                "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
            },
            "recentBlockhash": str(message.recent_blockhash),
        }
        if encoding == "jsonParsed":
            every_key = [*keys, *landed.loaded_writable, *landed.loaded_readonly]
            rendered["accountKeys"] = [
                {
                    "pubkey": key,
                    "signer": index < header.num_required_signatures,
                    "writable": self._is_writable(message, index, len(keys), len(landed.loaded_writable)),
                    "source": "transaction" if index < len(keys) else "lookupTable",
                }
                for index, key in enumerate(every_key)
            ]
            rendered["instructions"] = [
                {
                    "programId": every_key[ix.program_id_index],
                    "accounts": [every_key[i] for i in bytes(ix.accounts)],
                    "data": b58encode(bytes(ix.data)),
                    "stackHeight": None,
                }
                for ix in message.instructions
            ]
            del rendered["header"]
        else:
            rendered["accountKeys"] = keys
            rendered["instructions"] = [
                {
                    "programIdIndex": ix.program_id_index,
                    "accounts": list(bytes(ix.accounts)),
                    "data": b58encode(bytes(ix.data)),
                    "stackHeight": None,
                }
                for ix in message.instructions
            ]
        if isinstance(message, MessageV0):
            rendered["addressTableLookups"] = [
                {
                    "accountKey": str(lookup.account_key),
                    "writableIndexes": list(bytes(lookup.writable_indexes)),
                    "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
                }
                for lookup in message.address_table_lookups
            ]
        return {"signatures": [str(s) for s in tx.signatures], "message": rendered}

    @staticmethod
    def _is_writable(message: Message | MessageV0, index: int, static: int, loaded_writable: int) -> bool:
        if index >= static:
            return index < static + loaded_writable
        header = message.header
        signed = header.num_required_signatures
        if index < signed:
            return index < signed - header.num_readonly_signed_accounts
        return index < static - header.num_readonly_unsigned_accounts
