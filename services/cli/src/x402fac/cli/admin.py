"""`x402fac keys ...`, `x402fac whitelist ...` and `x402fac discovery ...`: the operator's side, over
NATS to the ledger as the bus user `admin` (X402FAC_NATS_USER / _PASSWORD; `make run` writes them to
<data dir>/nats/admin.env); the HTTP admin API needs X402FAC_ADMIN_TOKEN instead."""

import asyncio
import json
import sys
import time

import msgspec

from x402fac.bus import BusError, connect, request, subjects
from x402fac.protocol import PaymentRequirements
from x402fac.protocol import ledger as wire

TIMEOUT = 10.0


async def _ask(subject: str, message, reply_type):
    # Bounded: a refused login (wrong credentials) is retried for ever by the client otherwise.
    nc = await asyncio.wait_for(connect(None, name="x402fac-cli"), TIMEOUT)
    try:
        return await request(nc, subject, message, reply_type, TIMEOUT)
    finally:
        await nc.drain()


def _call(subject: str, message, reply_type):
    try:
        return asyncio.run(_ask(subject, message, reply_type))
    except (BusError, OSError) as exc:
        sys.exit(
            f"the ledger did not answer ({exc!r}); are X402FAC_NATS_URL and the admin credentials "
            "(X402FAC_NATS_USER / _PASSWORD) right, and the ledger running?"
        )


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch)) if epoch else "-"


def cmd_keys(args) -> None:
    if args.action == "create":
        reply = _call(
            subjects.LEDGER_KEY_ISSUE,
            wire.KeyCreateRequest(name=args.name, rate_per_minute=args.rate, origin="cli"),
            wire.KeyCreateReply,
        )
        if not reply.ok or reply.key is None:
            sys.exit(f"cannot create the key: {reply.error}")
        print(
            f"id      {reply.key.id}\nname    {reply.key.name}\nrate    {reply.key.rate_per_minute or 'none'}/min"
        )
        print(f"key     {reply.secret}\n(shown once: only its hash is stored)")
    elif args.action == "list":
        reply = _call(subjects.LEDGER_KEY_LIST, wire.KeyListRequest(), wire.KeyListReply)
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
        reply = _call(subjects.LEDGER_KEY_REVOKE, wire.KeyIdRequest(args.id), wire.KeyReply)
        if not reply.ok:
            sys.exit(f"no key {args.id!r}")
        print(f"revoked {args.id} ({reply.key.name}); gateways stop accepting it within their key cache time")


def cmd_whitelist(args) -> None:
    if args.action == "list":
        reply = _call(
            subjects.LEDGER_WHITELIST_LIST, wire.WhitelistRequest(address=""), wire.WhitelistListReply
        )
        for entry in reply.entries:
            print(f"{entry.address}  {','.join(entry.networks)}  {_when(entry.registered_at)}  {entry.note}")
        return
    subject = {
        "add": subjects.LEDGER_WHITELIST_ADD,
        "remove": subjects.LEDGER_WHITELIST_REMOVE,
        "check": subjects.LEDGER_WHITELIST_GET,
    }[args.action]
    message = wire.WhitelistRequest(
        address=args.address, networks=args.network or ["*"], note=args.note or ""
    )
    reply = _call(subject, message, wire.WhitelistReply)
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


def _requirements(args) -> list[PaymentRequirements]:
    """`--accepts` (wire JSON: one PaymentRequirements or a list), else the one the flags describe."""
    if args.accepts:
        try:
            given = json.loads(args.accepts)
        except ValueError as exc:
            sys.exit(f"--accepts is not JSON: {exc}")
        given = given if isinstance(given, list) else [given]
    elif args.network and args.pay_to and args.amount:
        given = [
            {
                "scheme": args.scheme,
                "network": args.network,
                "amount": args.amount,
                "payTo": args.pay_to,
                "asset": args.asset,
                "maxTimeoutSeconds": args.max_timeout,
            }
        ]
    else:
        sys.exit("give --accepts JSON, or --network, --pay-to and --amount")
    try:
        accepts = [msgspec.convert(item, PaymentRequirements) for item in given]
    except msgspec.MsgspecError as exc:
        sys.exit(f"not payment requirements: {exc}")
    if not accepts:
        sys.exit("--accepts must not be empty")
    return accepts


def _resource_url(url: str) -> str:
    from x402fac.gateway.bazaar import InvalidDiscovery, normalize_url

    try:
        return normalize_url(url)
    except InvalidDiscovery as exc:
        sys.exit(str(exc))


def cmd_discovery(args) -> None:
    if args.action == "list":
        message = wire.DiscoveryListRequest(
            type=args.type or "",
            pay_to=args.pay_to or "",
            network=args.network or "",
            scheme=args.scheme or "",
            query=args.query or "",
            limit=args.limit,
            offset=args.offset,
        )
        reply = _call(wire.SUBJECT_DISCOVERY_LIST, message, wire.DiscoveryListReply)
        if args.json:
            print(json.dumps({"entries": msgspec.to_builtins(reply.entries), "total": reply.total}, indent=2))
            return
        print(f"{'updated (UTC)':16}  {'type':4}  {'method':6}  {'origin':8}  {'paid':>5}  payTo  resource")
        for entry in reply.entries:
            print(
                f"{_when(entry.updated_at):16}  {entry.type:4}  {entry.method or '-':6}  {entry.origin:8}  "
                f"{entry.settlements:>5}  {entry.pay_to}  {entry.resource}"
            )
        print(f"{len(reply.entries)} shown of {reply.total}")
        return
    url = _resource_url(args.resource)
    if args.action == "remove":
        reply = _call(
            wire.SUBJECT_DISCOVERY_REMOVE,
            wire.DiscoveryRemoveRequest(resource=url, pay_to=args.pay_to or ""),
            wire.DiscoveryAddReply,
        )
        if not reply.ok:
            sys.exit(f"{url!r} is not listed" + (f" for {args.pay_to}" if args.pay_to else ""))
        print(f"removed: {url}")
        return
    accepts = _requirements(args)
    for pay_to in dict.fromkeys(a.pay_to for a in accepts):  # one entry per receiver, as the admin API
        entry = wire.CatalogEntry(
            resource=url,
            pay_to=pay_to,
            accepts=[a for a in accepts if a.pay_to == pay_to],
            type=args.type,
            description=args.description,
            mime_type=args.mime_type,
            method=args.method,
            origin="operator",
        )
        reply = _call(wire.SUBJECT_DISCOVERY_ADD, wire.DiscoveryAddRequest(entry), wire.DiscoveryAddReply)
        if not reply.ok:
            sys.exit(f"cannot list {url} for {pay_to}: {reply.error}")
        print(f"listed: {url} for {pay_to}")


def _discovery_commands(commands) -> None:
    discovery = commands.add_parser("discovery", help="list, add and remove discovery catalog resources")
    actions = discovery.add_subparsers(dest="action", required=True)
    add = actions.add_parser(
        "add",
        help="list a resource (operator entry; not counted against the per-payTo cap)",
        description="Payment requirements from --accepts (wire JSON: one object or a list), "
        "or from --network, --pay-to, --amount [--asset, --scheme, --max-timeout].",
    )
    add.add_argument("resource", help="absolute http(s) URL (query and fragment are dropped)")
    add.add_argument("--accepts", help="PaymentRequirements JSON, one object or a list")
    add.add_argument("--network", help="CAIP-2 network")
    add.add_argument("--pay-to")
    add.add_argument("--amount", help="atomic units")
    add.add_argument("--asset", default="")
    add.add_argument("--scheme", default="exact")
    add.add_argument("--max-timeout", type=int, default=60, help="maxTimeoutSeconds")
    add.add_argument("--type", choices=["http", "mcp"], default="http")
    add.add_argument("--method", default="", choices=["", "GET", "HEAD", "DELETE", "POST", "PUT", "PATCH"])
    add.add_argument("--description", default="")
    add.add_argument("--mime-type", default="")
    remove = actions.add_parser("remove", help="remove a resource")
    remove.add_argument("resource")
    remove.add_argument("--pay-to", help="only this receiver's entry (default: every receiver)")
    listing = actions.add_parser("list", help="the catalog, oldest listing first")
    listing.add_argument("--type", choices=["http", "mcp"])
    listing.add_argument("--pay-to")
    listing.add_argument("--network")
    listing.add_argument("--scheme")
    listing.add_argument("--query", help="words that must all occur (URL, description, method, bazaar info)")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--json", action="store_true")
    discovery.set_defaults(func=cmd_discovery)


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
    _discovery_commands(commands)
