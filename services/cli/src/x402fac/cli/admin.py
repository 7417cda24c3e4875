"""`x402fac keys ...` and `x402fac whitelist ...`: the operator's side, over NATS to the ledger
(whoever can reach NATS is an operator; the HTTP admin API needs X402FAC_ADMIN_TOKEN instead)."""

import asyncio
import json
import sys
import time

import msgspec

from x402fac.bus import BusError, connect, request, subjects
from x402fac.protocol.ledger import (
    KeyCreateReply,
    KeyCreateRequest,
    KeyIdRequest,
    KeyListReply,
    KeyListRequest,
    KeyReply,
    WhitelistListReply,
    WhitelistReply,
    WhitelistRequest,
)

TIMEOUT = 10.0


async def _ask(subject: str, message, reply_type):
    nc = await connect(None, name="x402fac-cli")
    try:
        return await request(nc, subject, message, reply_type, TIMEOUT)
    finally:
        await nc.drain()


def _call(subject: str, message, reply_type):
    try:
        return asyncio.run(_ask(subject, message, reply_type))
    except (BusError, OSError) as exc:
        sys.exit(f"the ledger did not answer ({exc}); is X402FAC_NATS_URL right and the ledger running?")


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch)) if epoch else "-"


def cmd_keys(args) -> None:
    if args.action == "create":
        reply = _call(
            subjects.LEDGER_KEY_CREATE,
            KeyCreateRequest(name=args.name, rate_per_minute=args.rate, origin="cli"),
            KeyCreateReply,
        )
        if not reply.ok or reply.key is None:
            sys.exit(f"cannot create the key: {reply.error}")
        print(
            f"id      {reply.key.id}\nname    {reply.key.name}\nrate    {reply.key.rate_per_minute or 'none'}/min"
        )
        print(f"key     {reply.secret}\n(shown once: only its hash is stored)")
    elif args.action == "list":
        reply = _call(subjects.LEDGER_KEY_LIST, KeyListRequest(), KeyListReply)
        if args.json:
            keys = [{k: v for k, v in msgspec.to_builtins(key).items() if k != "hash"} for key in reply.keys]
            print(json.dumps(keys, indent=2))
            return
        print(
            f"{'id':16}  {'prefix':11}  {'created (UTC)':16}  {'rate':>6}  {'origin':12}  {'revoked':16}  name"
        )
        for key in reply.keys:
            print(
                f"{key.id:16}  {key.prefix:11}  {_when(key.created_at):16}  {key.rate_per_minute or '-':>6}  "
                f"{key.origin:12}  {_when(key.revoked_at):16}  {key.name}"
            )
    else:
        reply = _call(subjects.LEDGER_KEY_REVOKE, KeyIdRequest(args.id), KeyReply)
        if not reply.ok:
            sys.exit(f"no key {args.id!r}")
        print(f"revoked {args.id} ({reply.key.name}); gateways stop accepting it within their key cache time")


def cmd_whitelist(args) -> None:
    if args.action == "list":
        reply = _call(subjects.LEDGER_WHITELIST_LIST, WhitelistRequest(address=""), WhitelistListReply)
        for entry in reply.entries:
            print(f"{entry.address}  {','.join(entry.networks)}  {_when(entry.registered_at)}  {entry.note}")
        return
    subject = {
        "add": subjects.LEDGER_WHITELIST_ADD,
        "remove": subjects.LEDGER_WHITELIST_REMOVE,
        "check": subjects.LEDGER_WHITELIST_GET,
    }[args.action]
    message = WhitelistRequest(address=args.address, networks=args.network or ["*"], note=args.note or "")
    reply = _call(subject, message, WhitelistReply)
    if args.action == "check":
        print(
            json.dumps(
                {
                    "whitelisted": reply.ok,
                    "address": args.address,
                    "networks": reply.entry.networks if reply.entry else [],
                }
            )
        )
        return
    if not reply.ok:
        sys.exit(f"{args.action} failed for {args.address!r}")
    print(f"{args.action}: {args.address}" + (f" on {','.join(reply.entry.networks)}" if reply.entry else ""))


def add_commands(commands) -> None:
    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key (printed once)")
    create.add_argument("--name", required=True)
    create.add_argument("--rate", type=int, default=0, help="requests per minute with this key (0: no limit)")
    listing = actions.add_parser("list", help="every key (never the key itself)")
    listing.add_argument("--json", action="store_true")
    revoke = actions.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id")
    keys.set_defaults(func=cmd_keys)
    whitelist = commands.add_parser("whitelist", help="register payment receivers (payTo addresses)")
    actions = whitelist.add_subparsers(dest="action", required=True)
    for name, text in (
        ("add", "register an address"),
        ("remove", "unregister it"),
        ("check", "is it registered?"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("address")
        action.add_argument(
            "--network", action="append", help="CAIP-2 network (repeat; default: every network)"
        )
        action.add_argument("--note", default="")
    actions.add_parser("list", help="every registered address")
    whitelist.set_defaults(func=cmd_whitelist)
