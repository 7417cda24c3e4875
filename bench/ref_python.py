"""The Python reference: the official x402 SDK facilitator behind a minimal threaded HTTP server.

`python -m bench.ref_python --port N --rpc-url URL --private-key KEY [--network eip155:84532]`
`python -m bench.ref_python --family solana --port N --rpc-url URL --private-key B58 --network solana:...`

x402FacilitatorSync with the SDK's web3 signer (FacilitatorWeb3Signer) and its exact EVM scheme, or
(`--family solana`, the `x402[svm]` extra) its keypair signer (FacilitatorKeypairSigner, solana-py RPC
client) and its exact SVM scheme, registered the way the SDK's docstrings show. The HTTP layer is the standard library's
ThreadingHTTPServer (one thread per connection, HTTP/1.1 keep-alive, TCP_NODELAY), so what is
measured is the SDK, not a web framework. Prints `python reference listening on <url>` when ready.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from x402 import x402FacilitatorSync
from x402.mechanisms.evm import FacilitatorWeb3Signer
from x402.mechanisms.evm.exact import register_exact_evm_facilitator
from x402.schemas.helpers import parse_payment_payload, parse_payment_requirements


def build_facilitator(
    rpc_url: str, private_key: str, network: str, family: str = "evm"
) -> x402FacilitatorSync:
    facilitator = x402FacilitatorSync()
    if family == "solana":
        import warnings

        from x402.mechanisms.svm import FacilitatorKeypairSigner

        # The SDK builds solana-py's sync Client, which warns that it is deprecated: what the SDK does.
        warnings.filterwarnings("ignore", "Client is deprecated", FutureWarning)
        from x402.mechanisms.svm.exact import register_exact_svm_facilitator

        # private_key: the base58 64-byte keypair of the devnet's fee payer
        register_exact_svm_facilitator(
            facilitator, FacilitatorKeypairSigner.from_base58(private_key, rpc_url), networks=network
        )
    else:
        signer = FacilitatorWeb3Signer(private_key=private_key, rpc_url=rpc_url)
        register_exact_evm_facilitator(facilitator, signer, networks=network)
    return facilitator


def make_handler(facilitator: x402FacilitatorSync) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like every other target
        disable_nagle_algorithm = True  # TCP_NODELAY

        def log_message(self, format: str, *args: object) -> None:  # one line per request would skew CPU
            pass

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/supported":
                self._answer(200, facilitator.get_supported().model_dump(by_alias=True, exclude_none=True))
            else:
                self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path not in ("/verify", "/settle"):
                self._answer(404, {"error": "not_found"})
                return
            try:
                request = json.loads(body)
                payload = parse_payment_payload(request["paymentPayload"])
                requirements = parse_payment_requirements(
                    payload.x402_version, request["paymentRequirements"]
                )
            except (ValueError, KeyError, TypeError) as exc:
                self._answer(400, {"error": "invalid_request", "message": str(exc)})
                return
            try:
                if self.path == "/verify":
                    result = facilitator.verify(payload, requirements)
                else:
                    result = facilitator.settle(payload, requirements)
            except Exception as exc:  # what the published examples do: 500 with the message
                self._answer(500, {"error": type(exc).__name__, "message": str(exc)})
                return
            self._answer(200, result.model_dump(by_alias=True, exclude_none=True))

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: open-loop bursts must not be refused


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ref_python", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rpc-url", required=True)
    parser.add_argument("--private-key", required=True)
    parser.add_argument("--network", default="eip155:84532")
    parser.add_argument("--family", choices=("evm", "solana"), default="evm")
    args = parser.parse_args(argv)
    facilitator = build_facilitator(args.rpc_url, args.private_key, args.network, args.family)
    server = Server((args.host, args.port), make_handler(facilitator))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"python reference listening on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    sys.exit(main())
